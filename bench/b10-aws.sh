#!/usr/bin/env bash
# Bench B10 (make bench runs it; alone: bench/b10-aws.sh WORK [TERRAFORM]): render + gitops-plan +
# gitops-apply vs terraform init/plan/apply by hand on the same AWS deployment (aws-dev/orders-api,
# 31 resources) with the real AWS provider against moto on loopback, state in S3 (use_lockfile),
# keys from OpenBao for the toolkit and in the environment by hand. Each run creates everything
# (the provider waits a minute for the ALB) and is destroyed before the next; 3 runs each.
# Writes WORK/raw/b10.json (hyperfine), or WORK/raw/b10.skip where the AWS provider is absent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release"
work=$1
tf="${2:-$(command -v terraform || command -v tofu)}"
raw="$work/raw"
mkdir -p "$raw"
export GITOPS_CACHE_DIR="$work/cache" TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
(
  . "$root/scripts/aws-local.sh"
  b10="$work/b10"
  trap aws_local_stop EXIT
  set +e; aws_local_start "$b10" > "$raw/b10.skip"; code=$?; set -e
  if [ "$code" -eq 3 ]; then echo "   $(cat "$raw/b10.skip")"; exit 0; fi
  [ "$code" -eq 0 ] || exit "$code"
  rm -f "$raw/b10.skip"
  bash "$root/scripts/make-example.sh" --aws "$b10/example" >/dev/null
  arepo="$b10/example/repo" d="$b10/toolkit" hand="$b10/by-hand"
  keys="AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
  toolkit="$bin/gitops-render --repo $arepo aws-dev/orders-api --out $d && $bin/gitops-plan --repo $arepo $d >/dev/null; [ \$? -eq 4 ] && $bin/gitops-apply --repo $arepo $d"
  "$bin/gitops-render" --repo "$arepo" aws-dev/orders-api --out "$hand" >/dev/null 2>&1
  byhand="env $keys $tf -chdir=$hand init -input=false -no-color -reconfigure -backend-config=key=by-hand/orders-api.tfstate && env $keys $tf -chdir=$hand plan -input=false -no-color -out=plan.bin && env $keys $tf -chdir=$hand apply -input=false -no-color plan.bin"
  clean="for x in $d $hand; do if [ -d \$x/.terraform ]; then env $keys $tf -chdir=\$x destroy -auto-approve -no-color >/dev/null 2>&1 || true; fi; done; rm -rf $d $hand/.terraform"
  hyperfine --style basic --export-json "$raw/b10.json" --runs 3 --prepare "bash -c '$clean'" \
    -n toolkit "bash -c '$toolkit' >/dev/null" -n by-hand "bash -c '$byhand' >/dev/null" > "$raw/b10.txt"
  cat "$raw/b10.txt"
  bash -c "$clean"
)

