#!/usr/bin/env bash
# The toolkit's main job on the embedded example, told as a story: materialize the example repos,
# render every deployment, explain one, plan and apply it to the sandbox with real Terraform and
# credentials from (a stand-in) Vault, show the tags on every resource, destroy it. Run through
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

# Vault: the stand-in of the test support (no Vault server can be installed here) with canary
# secrets, unless VAULT_ADDR points at a real one. The binaries log in with AppRole.
if [ -z "${VAULT_ADDR:-}" ]; then
  "$bin/vault-standin" --print-config > "$work/vault.out" &
  vault_pid=$!
  trap 'kill $vault_pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do [ -s "$work/vault.out" ] && [ "$(wc -l < "$work/vault.out")" -ge 2 ] && break; sleep 0.05; done
  export VAULT_ADDR="$(sed -n 's/^VAULT_ADDR=//p' "$work/vault.out")"
  # The AppRole ids go straight from the stand-in's config into this shell's environment.
  eval "$(sed -n 2p "$work/vault.out" | python3 -c 'import json, shlex, sys; c = json.load(sys.stdin)["approle"][0]; print("export VAULT_ROLE_ID=%s VAULT_SECRET_ID=%s" % (shlex.quote(c["role_id"]), shlex.quote(c["secret_id"])))')"
  rm -f "$work/vault.out"
fi

step "1. The example: six module repositories with tags v1.0.0 and v1.1.0, and a source-of-truth repo"
bash "$root/scripts/make-example.sh" "$work/example"
git -C "$repo" log --oneline --reverse | sed 's/^/   /'

step "2. Render every deployment (deterministic Terraform root modules, module code vendored)"
run "$bin/gitops-render" --repo "$repo" --all --out "$out"

step "3. Explain $dep: every module input, its value and where it came from"
"$bin/gitops-render" --repo "$repo" "$dep" --explain | sed -n '1,/^module load-balancer/p' | sed '$d'
echo "   ... (load-balancer, monitoring, network follow; see gitops-render $dep --explain)"

step "4. gitops-plan $dep: init + plan with credentials from Vault ($VAULT_ADDR), policy gate, digest"
dir="$out/$dep"
set +e
"$bin/gitops-plan" --repo "$repo" "$dir" > "$work/plan.txt"
code=$?
set -e
echo "   exit code $code (4 = changes present); plan.md:"
grep -vE '^\| (create|update|delete|replace) ' "$work/plan.txt" | sed 's/^/   | /'
echo "   ($(grep -cE '^\| create ' "$work/plan.txt") create rows elided)"
[ "$code" -eq 4 ]

step "5. gitops-apply $dep: exactly the saved plan"
run "$bin/gitops-apply" --repo "$repo" "$dir" | sed 's/^/   /'
set +e
"$bin/gitops-plan" --repo "$repo" "$dir" >/dev/null 2>&1
echo "   plan again: exit code $? (0 = no changes)"
set -e

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
for r in rs[:6]:
    print("   %-60s kind=%s" % (r["address"], r["values"]["input"].get("kind")))
print("   ... and %d more" % (len(rs) - 6))
print("   resources missing a tag: %s" % (missing or "none"))
sys.exit(1 if missing else 0)
'
echo "   outputs:"; "$tf" -chdir="$dir" output -no-color | sed 's/^/     /'

step "7. Destroy $dep and check the sandbox is empty"
"$tf" -chdir="$dir" destroy -no-color -auto-approve | grep -E '^Destroy complete' | sed 's/^/   /'
left=$("$tf" -chdir="$dir" state list | wc -l)
echo "   resources left in the state: $left"
[ "$left" -eq 0 ]

step "Done"
echo "   work directory: $work (state in $GITOPS_STATE_DIR, module cache in $GITOPS_CACHE_DIR)"
