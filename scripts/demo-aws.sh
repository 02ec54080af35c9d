#!/usr/bin/env bash
# The lifecycle on AWS, told as a story (`make demo CLOUD=aws`): the AWS example (examples/platform-aws)
# with the real AWS provider, state in S3 with S3-native locking, AWS keys from Vault's KV v2. AWS is
# moto on loopback here (`make tools` installs it); the same commands deploy to a real account when
# AWS_ENDPOINT_URL is not set and the keys in Vault are real (docs/aws.md).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/debug"
work="${DEMO_DIR:-$root/build/demo-aws}"
py="$root/.venv/bin/python"
export GITOPS_CACHE_DIR="$work/cache"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
export BUILD_TAG="${BUILD_TAG:-demo-$(date -u +%Y%m%d%H%M%S)}"
repo="$work/example/repo"
out="$work/out"
dep="aws-dev/orders-api"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# moto, OpenBao, the state bucket, the keys in Vault, the provider from the mirror: scripts/aws-local.sh.
. "$root/scripts/aws-local.sh"
rm -rf "$work"
mkdir -p "$work"
trap aws_local_stop EXIT
set +e; aws_local_start "$work"; code=$?; set -e
if [ "$code" -eq 3 ]; then echo "demo-aws: skipped (see above)"; exit 0; fi
[ "$code" -eq 0 ] || exit "$code"
aws() { aws_py "$1"; }
tagged() { # KEY VALUE: what the Tagging API lists with that tag, as "n resources (type counts)";
  # terminated instances and deleted NAT gateways aside (AWS lists them for a while after deletion)
  aws "t = client('resourcegroupstaggingapi'); import collections
ec2 = client('ec2'); gone = {i['InstanceId'] for r in ec2.describe_instances()['Reservations'] for i in r['Instances'] if i['State']['Name'] in ('terminated', 'shutting-down')}
gone |= {n['NatGatewayId'] for n in ec2.describe_nat_gateways()['NatGateways'] if n['State'] in ('deleting', 'deleted')}
arns = [m['ResourceARN'] for p in t.get_paginator('get_resources').paginate(TagFilters=[{'Key': '$1', 'Values': ['$2']}]) for m in p['ResourceTagMappingList'] if m['ResourceARN'].rsplit('/', 1)[-1] not in gone]
c = collections.Counter(a.split(':')[5].split('/')[0] for a in arns)
print('%d resources%s' % (len(arns), ' (' + ', '.join('%s %d' % kv for kv in sorted(c.items())) + ')' if c else ''))"
}

step "1. AWS on loopback (moto $("$py" -c 'import importlib.metadata as m; print(m.version("moto"))')), Vault (OpenBao), the state bucket"
echo "   AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL: the provider and the S3 backend read it; nothing in the repo names moto"
echo "   state bucket tfstate-123456789012 (versioned); Vault KV v2 secret/gitops/aws-{certify,dev,prod}: access_key, secret_key"

step "2. The AWS example: modules/aws as six repositories (v1.0.0, v1.1.0), the source-of-truth repo"
bash "$root/scripts/make-example.sh" --aws "$work/example" | sed 's/^/   /'
sed -n '/^\[backend/,/^$/p' "$repo/gitops.toml" | sed 's/^/   gitops.toml: /'

step "3. Certify web-service 1.0.0 for AWS: each profile applied in aws-certify, tags verified, destroyed"
"$bin/gitops-certify" --repo "$repo" run web-service 1.0.0 --summary "$work/certify.md" 2>&1 | grep -E 'certified|failed|step' | tail -3 | sed 's/^/   /'
echo "   left in aws-certify, by the Tagging API: $(tagged gitops:environment aws-certify)"

deploy() { # env/name [approver]
  local d="$out/$1"
  "$bin/gitops-render" --repo "$repo" "$1" --out "$d" 2>/dev/null >/dev/null
  set +e; "$bin/gitops-plan" --repo "$repo" "$d" >"$work/plan.txt" 2>"$work/plan.err"; local code=$?; set -e
  grep -E '^\*\*' "$work/plan.txt" | sed 's/^/   plan: /'
  if [ "$code" -ne 4 ] && [ "$code" -ne 0 ]; then sed 's/^/   /' "$work/plan.err"; return "$code"; fi
  local t0=$SECONDS
  "$bin/gitops-apply" --repo "$repo" "$d" ${2:+--approved-by "$2"} 2>/dev/null | head -1 | sed 's/^/   /'
  echo "   (apply: $((SECONDS - t0)) s; a new ALB alone takes a minute: moto answers at once, the provider polls)"
  "$bin/gitops-tag" --repo "$repo" "$d" 2>/dev/null | sed 's/^/   /'
}
commit_request() {
  git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -qam "$1"
  git -C "$repo" log --oneline -1 | sed 's/^/   commit: /'
}

step "4. Deploy $dep (web-service 1.0.0): plan with the keys from Vault, apply, tags checked in AWS"
deploy "$dep"
echo "   the Tagging API lists $(tagged gitops:deployment "$dep")"

step "5. Update $dep to web-service 1.1.0"
sed -i 's/^package = "1.0.0"/package = "1.1.0"/' "$repo/deployments/$dep.toml"
commit_request "orders-api: web-service 1.1.0"
deploy "$dep"

step "6. Drift: untouched, then a setting changed through the SSM API"
dir="$out/$dep"
set +e
"$bin/gitops-plan" --repo "$repo" --drift "$dir" >/dev/null 2>&1; echo "   untouched: exit $? ($("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$dir/drift.json"))"
aws "client('ssm').put_parameter(Name='/dev/orders-api/LOG_LEVEL', Value='trace', Type='String', Overwrite=True)"
"$bin/gitops-plan" --repo "$repo" --drift "$dir" >/dev/null 2>&1; code=$?
set -e
"$py" - "$dir/drift.json" "$code" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["resources"]:
    attrs = ", ".join("%s: %s -> %s" % (a["path"], a["before"], a["after"]) for a in r.get("attributes", []))
    print("   changed in AWS: exit %s, %s %s (%s)" % (sys.argv[2], r["action"], r["address"], attrs))
PY

step "7. Roll back $dep to its previous recorded deployment (1.0.0), apply and tag"
"$bin/gitops-rollback" --repo "$repo" "$dep" --to previous --out "$dir" 2>/dev/null | grep -E '^\*\*|rolled back' | sed 's/^/   /'
"$bin/gitops-apply" --repo "$repo" "$dir" 2>/dev/null | head -1 | sed 's/^/   /'
"$bin/gitops-tag" --repo "$repo" "$dir" 2>/dev/null | sed 's/^/   /'
"$bin/gitops-tag" --repo "$repo" history "$dep" | sed 's/^/   /'

step "8. The protected aws-prod: certified package, but no apply without an approval"
"$bin/gitops-render" --repo "$repo" aws-prod/orders-api --out "$out/aws-prod/orders-api" 2>/dev/null | sed 's/^/   /'
set +e
"$bin/gitops-plan" --repo "$repo" "$out/aws-prod/orders-api" 2>/dev/null | grep -E '^\*\*' | sed 's/^/   plan: /'
"$bin/gitops-apply" --repo "$repo" "$out/aws-prod/orders-api" 2>&1 | tail -1 | sed 's/^/   /'
set -e

step "9. Destroy $dep: state empty, nothing left in AWS with its tag"
"$bin/gitops-destroy" --repo "$repo" "$dep" --confirm orders-api --out "$dir" 2>/dev/null | grep -E '^\*\*|destroyed' | sed 's/^/   /'
echo "   the Tagging API lists $(tagged gitops:deployment "$dep")"
echo "   work directory: $work"
