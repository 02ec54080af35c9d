#!/usr/bin/env bash
# The toolkit's main job on the embedded example, told as a story: materialize the example repos,
# render every deployment, explain one, plan and apply it to the sandbox with real Terraform and
# credentials from Vault (an OpenBao dev server), show the tags on every resource, destroy it. Run through
# `make demo` (which builds the binaries first).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/debug"
work="${DEMO_DIR:-$root/build/demo}"
export GITOPS_CACHE_DIR="$work/cache" GITOPS_STATE_DIR="$work/state"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null
export BUILD_TAG="${BUILD_TAG:-demo-$(date -u +%Y%m%d%H%M%S)}"
tf="$(command -v terraform || command -v tofu)"
repo="$work/example/repo"
out="$work/out"
dep="dev/web-frontend"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

rm -rf "$work"
mkdir -p "$work"

# Vault: an OpenBao dev server of the demo's own (`make tools` installs it), seeded with canary
# secrets by the test support's vault-dev; an ambient VAULT_ADDR/VAULT_TOKEN is never used (an
# operator's Vault only by opt-in: GITOPS_TEST_VAULT_ADDR and GITOPS_TEST_VAULT_TOKEN). The
# binaries log in with AppRole.
unset VAULT_ADDR VAULT_TOKEN VAULT_NAMESPACE VAULT_ROLE_ID VAULT_SECRET_ID VAULT_JWT
coproc VAULT_DEV { exec "$bin/vault-dev" --print-config 2>"$work/vault-dev.err"; }
trap 'kill "$VAULT_DEV_PID" 2>/dev/null || true' EXIT
read -r addr_line <&"${VAULT_DEV[0]}" || { cat "$work/vault-dev.err" >&2; exit 1; }
read -r vault_config <&"${VAULT_DEV[0]}"
export VAULT_ADDR="${addr_line#VAULT_ADDR=}"
# The AppRole ids go straight from the seeded configuration into this shell's environment.
eval "$(printf '%s' "$vault_config" | python3 -c 'import json, shlex, sys; c = json.load(sys.stdin)["approle"][0]; print("export VAULT_ROLE_ID=%s VAULT_SECRET_ID=%s" % (shlex.quote(c["role_id"]), shlex.quote(c["secret_id"])))')"
unset vault_config
printf 'Vault: %s\n' "$(sed -n 's/^vault-dev: //p' "$work/vault-dev.err")"

step "1. The example: six module repositories with tags v1.0.0 and v1.1.0, and a source-of-truth repo"
bash "$root/scripts/make-example.sh" "$work/example"
git -C "$repo" log --oneline --reverse | sed 's/^/   /'
base=$(git -C "$repo" rev-parse HEAD)   # the example's last commit: dev/web-frontend on 1.1.0

step "2. Render every deployment (deterministic Terraform root modules, module code vendored)"
set +e
"$bin/gitops-render" --repo "$repo" --all --out "$out" 2>&1 | tail -2 | sed 's/^/   /'
echo "   exit code ${PIPESTATUS[0]}: prod is protected and web-service@1.0.0 is not certified yet"
set -e

step "3. Certify web-service 1.0.0: all its modules together, every supporting profile, in the sandbox"
"$bin/gitops-certify" --repo "$repo" run web-service 1.0.0 --summary "$work/certify.md" --junit "$work/certify.xml" 2>&1 | tail -3 | sed 's/^/   /'
"$bin/gitops-certify" --repo "$repo" run web-service 1.0.0 2>&1 | tail -1 | sed 's/^/   again: /'
"$bin/gitops-certify" --repo "$repo" matrix | sed 's/^/   /'
git -C "$repo" tag -l 'certified/*' | sed 's/^/   tag: /'
run "$bin/gitops-render" --repo "$repo" --all --out "$out" | tail -3 | sed 's/^/   /'

step "4. Explain $dep: every module input, its value and where it came from"
"$bin/gitops-render" --repo "$repo" "$dep" --explain | sed -n '1,/^module load-balancer/p' | sed '$d'
echo "   ... (load-balancer, monitoring, network follow; see gitops-render $dep --explain)"

dir="$out/$dep"
commit_request() { # message: commit the request as it is in the work tree
  git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -qam "$1"
  git -C "$repo" log --oneline -1 | sed 's/^/   commit: /'
}
deploy() { # env/name [approver]: render, plan, apply, tag, as the pipeline does
  local d="$out/$1"
  "$bin/gitops-render" --repo "$repo" "$1" --out "$d" >/dev/null
  set +e; "$bin/gitops-plan" --repo "$repo" "$d" > "$work/plan.txt" 2>"$work/plan.err"; local code=$?; set -e
  grep -E '^\*\*|Attention' "$work/plan.txt" | sed 's/^/   plan: /'
  if [ "$code" -ne 4 ] && [ "$code" -ne 0 ]; then sed 's/^/   /' "$work/plan.err"; return "$code"; fi
  "$bin/gitops-apply" --repo "$repo" "$d" ${2:+--approved-by "$2"} | head -1 | sed 's/^/   /'
  "$bin/gitops-tag" --repo "$repo" "$d" | sed 's/^/   /'
}

step "5. First release of $dep: web-service 1.0.0 (plan with credentials from Vault, apply, tag)"
git -C "$repo" show "$base~1:deployments/$dep.toml" > "$repo/deployments/$dep.toml"
commit_request "web-frontend: first release on web-service 1.0.0"
deploy "$dep"

step "6. Every resource carries the deployment tags (read from the state: terraform show -json)"
"$tf" -chdir="$dir" show -json | python3 -c '
import json, sys
state = json.load(sys.stdin)
def walk(m):
    yield from m.get("resources", [])
    for c in m.get("child_modules", []):
        yield from walk(c)
rs = list(walk(state["values"]["root_module"]))
want = ["gitops:commit", "gitops:build", "gitops:deployment", "gitops:environment", "gitops:package", "gitops:profile", "managed-by"]
missing = [r["address"] for r in rs if any(k not in r["values"]["input"].get("tags", {}) for k in want)]
tags = rs[0]["values"]["input"]["tags"]
print("   %d resources; tags on each:" % len(rs))
for k in want:
    print("     %-20s %s" % (k, tags[k]))
print("   resources missing a tag: %s" % (missing or "none"))
sys.exit(1 if missing else 0)
'

step "7. Update $dep to web-service 1.1.0 (a new commit), deploy it"
git -C "$repo" show "$base:deployments/$dep.toml" > "$repo/deployments/$dep.toml"
commit_request "web-frontend: move to web-service 1.1.0"
deploy "$dep"
run "$bin/gitops-tag" --repo "$repo" history "$dep" | sed 's/^/   /'

step "7b. The nightly drift check of $dep: another build, a later commit; planned as recorded"
git -C "$repo" -c user.name=demo -c user.email=demo@example.invalid commit -q --allow-empty -m "an unrelated commit"
BUILD_TAG=nightly-1 "$bin/gitops-render" --repo "$repo" "$dep" --out "$work/drift" >/dev/null
set +e; BUILD_TAG=nightly-1 "$bin/gitops-plan" --repo "$repo" "$work/drift" 2>/dev/null | grep -E '^\*\*' | sed 's/^/   a plan at HEAD with the nightly BUILD_TAG: /'
BUILD_TAG=nightly-1 "$bin/gitops-plan" --repo "$repo" "$work/drift" --drift --json 2>/dev/null > "$work/drift.json"; code=$?; set -e
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("   the drift check (exit %s): %s, compared with %s (build %s)" % (sys.argv[2], d["drift_status"].replace("_", " "), d["recorded"]["tag"], d["recorded"]["build_tag"]))
' "$work/drift.json" "$code"
[ "$code" -eq 0 ] || { echo "demo: the drift check of an untouched deployment found drift" >&2; exit 1; }

step "8. Roll back $dep to the previous recorded deployment: a forward commit, then apply + tag"
"$bin/gitops-rollback" --repo "$repo" "$dep" --to previous --dry-run | grep -E '^\*\*|dry run' | sed 's/^/   /'
"$bin/gitops-rollback" --repo "$repo" "$dep" --to previous --out "$dir" | grep -E '^\*\*|rolled back' | sed 's/^/   /'
git -C "$repo" log --oneline -1 | sed 's/^/   commit: /'
"$bin/gitops-apply" --repo "$repo" "$dir" | head -1 | sed 's/^/   /'
"$bin/gitops-tag" --repo "$repo" "$dir" | sed 's/^/   /'

step "9. Destroy $dep: refused without --confirm, then plan -destroy, apply, tombstone, request removed"
set +e
"$bin/gitops-destroy" --repo "$repo" "$dep" 2>&1 | tail -1 | sed 's/^/   /'; echo "   exit code ${PIPESTATUS[0]}"
set -e
"$bin/gitops-destroy" --repo "$repo" "$dep" --confirm web-frontend --out "$dir" | grep -E '^\*\*|destroyed|removed' | sed 's/^/   /'
echo "   resources left in the state: $("$tf" -chdir="$dir" state list | wc -l)"
git -C "$repo" tag -l 'destroyed/*' | sed 's/^/   tag: /'
git -C "$repo" log --oneline -1 | sed 's/^/   commit: /'

step "10. Promotion: orders-api goes to staging (after its database), then to prod (protected: certified package, approval)"
set +e
"$bin/gitops-render" --repo "$repo" prod/orders-api --out "$out/prod/orders-api" >/dev/null
"$bin/gitops-plan" --repo "$repo" "$out/prod/orders-api" >/dev/null 2>"$work/plan.err"; code=$?
set -e
echo "   prod before staging: exit code $code: $(tail -1 "$work/plan.err")"
echo "   staging/orders-api depends on staging/orders-db ([dependencies]: its endpoint into the app config)"
"$bin/gitops-render" --repo "$repo" staging/orders-api --out "$out/staging/orders-api" >/dev/null
set +e
"$bin/gitops-plan" --repo "$repo" "$out/staging/orders-api" >/dev/null 2>"$work/plan.err"; code=$?
set -e
echo "   before its database: exit code $code: $(tail -1 "$work/plan.err")"
"$bin/gitops-render" --repo "$repo" --all --list | grep -E 'orders-(db|api)' | sed 's/^/   /'
deploy dev/orders-db        # data-store 1.0.0 runs in dev before staging (the promotion order)
deploy staging/orders-db
deploy staging/orders-api
python3 - "$work/state/staging" <<'PY'
import json, sys
d = sys.argv[1]
endpoint = json.load(open(f"{d}/orders-db.tfstate"))["outputs"]["db_endpoint"]["value"]
for r in json.load(open(f"{d}/orders-api.tfstate"))["resources"]:
    for i in r["instances"] if r.get("name") == "config_parameter" else []:
        if i.get("index_key") == "ORDERS_DB_ENDPOINT":
            v = i["attributes"]["input"]
            v = v.get("value", v) if "type" in v else v
            print(f"   staging/orders-api ORDERS_DB_ENDPOINT = {v['value']} (orders-db's db_endpoint: {endpoint})")
PY
set +e
"$bin/gitops-plan" --repo "$repo" "$out/prod/orders-api" >/dev/null 2>&1
"$bin/gitops-apply" --repo "$repo" "$out/prod/orders-api" 2>&1 | tail -1 | sed 's/^/   without approval: /'
set -e
deploy prod/orders-api alice
for d in prod/orders-api staging/orders-api; do
  "$bin/gitops-destroy" --repo "$repo" "$d" --confirm orders-api --approved-by alice --out "$out/$d" | grep -E '^\*\*|destroyed' | sed 's/^/   /'
done
# Dependents first: staging/orders-api is gone, its database can go.
for d in staging/orders-db dev/orders-db; do
  "$bin/gitops-destroy" --repo "$repo" "$d" --confirm orders-db --allow-data-loss --out "$out/$d" | grep -E '^\*\*|destroyed' | sed 's/^/   /'
done

step "11. The same flow as Jenkins runs it: the shared library's gitopsPipeline over four commits"
bash "$root/scripts/pipeline-demo.sh" 2>&1 | sed 's/^/   /'

step "Done: the sandbox is empty"
left=0
for f in "$GITOPS_STATE_DIR"/*/*.tfstate; do
  [ -f "$f" ] || continue
  n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("resources", [])))' "$f")
  left=$((left + n))
done
echo "   resources left in $GITOPS_STATE_DIR: $left"
[ "$left" -eq 0 ]
echo "   work directory: $work (state in $GITOPS_STATE_DIR, module cache in $GITOPS_CACHE_DIR)"

step "12. The fleet report: every deployment, its versions, records, certification and orphans"
"$bin/gitops-report" --repo "$repo" --out "$work/report" | sed 's/^/   /'
echo "   open $work/report/report.html (one self-contained page; report.json and report.md beside it)"
