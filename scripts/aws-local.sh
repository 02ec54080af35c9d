# AWS on loopback for `make demo CLOUD=aws` and `make bench` (B10); sourced, not run.
#
#   aws_local_start WORK   moto (the AWS APIs) and an OpenBao dev server on free loopback ports, the
#                          state bucket of examples/platform-aws, its AWS keys in Vault's KV v2, and
#                          a Terraform CLI configuration installing hashicorp/aws from the mirror.
#                          Exports AWS_ENDPOINT_URL, VAULT_ADDR, VAULT_TOKEN, TF_CLI_CONFIG_FILE.
#                          Returns 3 (after one line) where the AWS provider is absent.
#   aws_local_stop         stops both servers
#   aws_py CODE            Python with boto3 clients (client(name)) against moto, moto's test keys
#                          in its environment only
#
# Needs `make tools` (.tools/bin/moto_server, .tools/bin/bao, .venv). The root token of the dev
# server is random and lives only in this shell's environment.

aws_local_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
aws_local_py="$aws_local_root/.venv/bin/python"

aws_py() {
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "$aws_local_py" -c "import boto3, json
def client(n): return boto3.client(n, region_name='us-east-1')
$1"
}

aws_local_free_port() {
  "$aws_local_py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

aws_local_wait() { # url: until it answers (60 s)
  local _
  for _ in $(seq 300); do
    "$aws_local_py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "aws-local: $1 does not answer" >&2
  return 1
}

aws_local_start() {
  local work=$1 mirror="${GITOPS_AWS_PROVIDER_MIRROR:-/opt/tf-plugins}" tool env
  if ! ls "$mirror"/registry.terraform.io/hashicorp/aws/*/linux_amd64/terraform-provider-aws_* >/dev/null 2>&1; then
    echo "skipped: no hashicorp/aws provider in a filesystem mirror at $mirror (set GITOPS_AWS_PROVIDER_MIRROR)"
    return 3
  fi
  for tool in "$aws_local_root/.tools/bin/moto_server" "$aws_local_root/.tools/bin/bao" "$aws_local_py"; do
    [ -x "$tool" ] || { echo "aws-local: $tool missing: run make tools" >&2; return 1; }
  done
  mkdir -p "$work"
  cat > "$work/aws.tfrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
EOF
  export TF_CLI_CONFIG_FILE="$work/aws.tfrc"
  unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_ROLE_ID VAULT_SECRET_ID VAULT_JWT AWS_PROFILE
  local moto_port bao_port
  moto_port=$(aws_local_free_port)
  "$aws_local_root/.tools/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
  aws_local_moto_pid=$!
  bao_port=$(aws_local_free_port)
  BAO_DEV_ROOT_TOKEN_ID="$("$aws_local_py" -c 'import secrets; print(secrets.token_hex(16))')"
  export BAO_DEV_ROOT_TOKEN_ID
  HOME="$work" "$aws_local_root/.tools/bin/bao" server -dev -dev-listen-address="127.0.0.1:$bao_port" \
    -dev-no-store-token >"$work/bao.log" 2>&1 &
  aws_local_bao_pid=$!
  export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
  export VAULT_ADDR="http://127.0.0.1:$bao_port" VAULT_TOKEN="$BAO_DEV_ROOT_TOKEN_ID"
  unset BAO_DEV_ROOT_TOKEN_ID
  aws_local_wait "$AWS_ENDPOINT_URL/moto-api/data.json" || return 1
  aws_local_wait "$VAULT_ADDR/v1/sys/health" || return 1
  aws_py "s3 = client('s3'); s3.create_bucket(Bucket='tfstate-123456789012')
s3.put_bucket_versioning(Bucket='tfstate-123456789012', VersioningConfiguration={'Status': 'Enabled'})"
  for env in aws-certify aws-dev aws-prod; do
    "$aws_local_py" - "$env" <<'PY' || return 1
import json, os, sys, urllib.request
req = urllib.request.Request(os.environ["VAULT_ADDR"] + "/v1/secret/data/gitops/" + sys.argv[1], method="POST",
    data=json.dumps({"data": {"access_key": "testing", "secret_key": "testing"}}).encode(),
    headers={"X-Vault-Token": os.environ["VAULT_TOKEN"], "Content-Type": "application/json"})
urllib.request.urlopen(req)
PY
  done
}

aws_local_stop() {
  kill "${aws_local_moto_pid:-}" "${aws_local_bao_pid:-}" 2>/dev/null || true
  wait "${aws_local_moto_pid:-}" "${aws_local_bao_pid:-}" 2>/dev/null || true
}
