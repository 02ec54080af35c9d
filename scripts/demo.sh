#!/usr/bin/env bash
# The toolkit's main job on the embedded example, told as a story: materialize the example repos,
# render every deployment, explain one, apply it to the sandbox with real Terraform, show the tags
# on every resource, destroy it. Run through `make demo` (which builds the binaries first).
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

step "1. The example: six module repositories with tags v1.0.0 and v1.1.0, and a source-of-truth repo"
bash "$root/scripts/make-example.sh" "$work/example"
git -C "$repo" log --oneline --reverse | sed 's/^/   /'

step "2. Render every deployment (deterministic Terraform root modules, module code vendored)"
run "$bin/gitops-render" --repo "$repo" --all --out "$out"

step "3. Explain $dep: every module input, its value and where it came from"
"$bin/gitops-render" --repo "$repo" "$dep" --explain | sed -n '1,/^module load-balancer/p' | sed '$d'
echo "   ... (load-balancer, monitoring, network follow; see gitops-render $dep --explain)"

step "4. Terraform init and plan $dep (real Terraform: $("$tf" version | head -1))"
dir="$out/$dep"
run "$tf" -chdir="$dir" init -no-color >/dev/null && echo "   initialized (no provider download: sandbox modules use terraform_data)"
"$tf" -chdir="$dir" plan -no-color -out=plan.bin | grep -E '^Plan:|will be created' | sed 's/^/   /' | tail -8

step "5. Apply to the sandbox"
"$tf" -chdir="$dir" apply -no-color -auto-approve plan.bin | grep -E '^Apply complete' | sed 's/^/   /'
rm -f "$dir/plan.bin"

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
