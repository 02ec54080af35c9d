#!/usr/bin/env bash
# Materialize the example platform as real git repositories:
#
#   DIR/modules/<name>   one repo per sandbox module (modules/sandbox/<name>), with two annotated tags:
#                        v1.0.0 (the tree with modules/sandbox/v1.1.0.patch reversed) and v1.1.0
#   DIR/repo             the source-of-truth repo (examples/platform-live) built with a realistic history
#                        of five commits; its last commit equals examples/platform-live exactly.
#                        Its gitops.toml points at the modules with `sandbox = "../modules"`.
#
# Deterministic: fixed authors and dates, no user or system git configuration, so the same input
# gives the same commit SHAs every time.
#
# With --aws, the AWS platform instead: DIR/aws-modules/<name> from modules/aws (same two tags, from
# modules/aws/v1.1.0.patch) and DIR/repo from examples/platform-aws (three commits).
#
# Usage: scripts/make-example.sh [--aws] DIR      (DIR must not exist or be empty)
set -euo pipefail

prog=make-example
die() { echo "$prog: $*" >&2; exit 2; }

cloud=sandbox
if [ "${1:-}" = --aws ]; then cloud=aws; shift; fi
[ $# -eq 1 ] && [ -n "$1" ] || die "usage: scripts/make-example.sh [--aws] DIR"
out=$1
if [ -e "$out" ] || [ -L "$out" ]; then
  [ -d "$out" ] || die "$out exists and is not a directory"
  [ -z "$(ls -A "$out")" ] || die "$out exists and is not empty; give a new or empty directory"
fi
command -v git >/dev/null || die "git is not installed"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "$cloud" = aws ]; then
  sandbox=$root/modules/aws example=$root/examples/platform-aws modules_dir=aws-modules
else
  sandbox=$root/modules/sandbox example=$root/examples/platform-live modules_dir=modules
fi
patch_file=$sandbox/v1.1.0.patch
modules=(network load-balancer compute database monitoring app-config)

[ -f "$patch_file" ] || die "missing $patch_file"
[ -f "$example/gitops.toml" ] || die "missing $example/gitops.toml"
for m in "${modules[@]}"; do [ -d "$sandbox/$m" ] || die "missing module $sandbox/$m"; done

mkdir -p "$out"
out=$(cd "$out" && pwd)

# --- a clean, fixed git environment ------------------------------------------------------------------
# Nothing from the caller's git environment or configuration may leak into the commits.
while IFS= read -r var; do unset "$var"; done < <(env | sed -n 's/^\(GIT_[A-Za-z_]*\)=.*/\1/p')
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="Platform Team" GIT_AUTHOR_EMAIL="platform-team@example.com"
export GIT_COMMITTER_NAME="Platform Team" GIT_COMMITTER_EMAIL="platform-team@example.com"
export TZ=UTC LC_ALL=C

g() {
  git -c init.defaultBranch=main -c commit.gpgsign=false -c tag.gpgsign=false -c core.autocrlf=false \
    -c core.fileMode=true -c core.hooksPath=/dev/null -c advice.detachedHead=false "$@"
}

# commit REPO DATE MESSAGE: commit everything in the work tree at a fixed date
commit() {
  g -C "$1" add -A
  GIT_AUTHOR_DATE="$2" GIT_COMMITTER_DATE="$2" g -C "$1" commit -q -m "$3"
}

# tag REPO DATE TAG MESSAGE: annotated tag at a fixed date
tag() {
  GIT_COMMITTER_DATE="$2" g -C "$1" tag -a "$3" -m "$4"
}

# copy_tree SRC DST: copy a module directory without Terraform working files
copy_tree() {
  mkdir -p "$2"
  cp -R "$1/." "$2/"
  find "$2" \( -name .terraform -o -name '.terraform.lock.hcl' -o -name '*.tfstate' -o -name '*.tfstate.backup' \
    -o -name '.terraform.tfstate.lock.info' \) -prune -exec rm -rf {} +
}

work=$(mktemp -d "${TMPDIR:-/tmp}/make-example.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- module trees at v1.1.0 and v1.0.0 ---------------------------------------------------------------
for m in "${modules[@]}"; do copy_tree "$sandbox/$m" "$work/v1.1.0/$m"; done
cp -R "$work/v1.1.0" "$work/v1.0.0"
# git apply outside any repository works like patch(1); the ceiling keeps it from finding one above.
(cd "$work/v1.0.0" && GIT_CEILING_DIRECTORIES="$work" g apply -R "$patch_file") \
  || die "modules/$cloud/v1.1.0.patch does not reverse-apply to modules/$cloud"

# --- module repositories -----------------------------------------------------------------------------
for m in "${modules[@]}"; do
  repo=$out/$modules_dir/$m
  mkdir -p "$repo"
  g init -q "$repo"
  copy_tree "$work/v1.0.0/$m" "$repo"
  commit "$repo" "2026-01-05T09:00:00+00:00" "$m: first release"
  tag "$repo" "2026-01-05T09:00:00+00:00" v1.0.0 "$m v1.0.0"
  find "$repo" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
  copy_tree "$work/v1.1.0/$m" "$repo"
  case $m in
    network) msg="network: add enable_flow_logs and the flow_log_id output" ;;
    load-balancer) msg="load-balancer: add the tls_policy input" ;;
    compute) msg="compute: add health_check_grace_seconds" ;;
    database) msg="database: add storage_encrypted (forces replacement) and performance_insights" ;;
    monitoring) msg="monitoring: add error_rate_percent and the error_rate alarm" ;;
    app-config) msg="app-config: add secret_refs" ;;
  esac
  commit "$repo" "2026-02-02T09:00:00+00:00" "$msg"
  tag "$repo" "2026-02-02T09:00:00+00:00" v1.1.0 "$m v1.1.0"
done

# --- source-of-truth repository ----------------------------------------------------------------------
repo=$out/repo
mkdir -p "$repo"
g init -q "$repo"

# put PATH...: copy files of examples/platform-live into the repo, keeping their relative paths
put() {
  local f
  for f in "$@"; do
    mkdir -p "$repo/$(dirname "$f")"
    cp "$example/$f" "$repo/$f"
  done
}

if [ "$cloud" = aws ]; then
  put gitops.toml environments/aws-certify.toml environments/aws-dev.toml environments/aws-prod.toml \
    packages/web-service/1.0.0.toml packages/data-store/1.0.0.toml
  commit "$repo" "2026-03-02T10:00:00+00:00" "Add the AWS platform: settings, environments, packages 1.0.0"
  put deployments/aws-dev/orders-api.toml deployments/aws-dev/orders-db.toml deployments/aws-prod/orders-api.toml
  commit "$repo" "2026-03-03T10:00:00+00:00" "Deploy orders-api and orders-db to aws-dev, orders-api to aws-prod"
  put packages/web-service/1.1.0.toml packages/data-store/1.1.0.toml
  commit "$repo" "2026-03-09T10:00:00+00:00" "Add packages web-service 1.1.0 and data-store 1.1.0 (modules v1.1.0)"
else
put gitops.toml environments/dev.toml environments/staging.toml environments/prod.toml \
  environments/certify.toml profiles/internal-tooling.toml
commit "$repo" "2026-01-12T10:00:00+00:00" "Add repo settings, environments dev/staging/prod/certify and the team profile"

put packages/web-service/1.0.0.toml packages/data-store/1.0.0.toml
commit "$repo" "2026-01-13T10:00:00+00:00" "Add packages web-service 1.0.0 and data-store 1.0.0"

put deployments/dev/orders-api.toml deployments/dev/orders-db.toml \
  deployments/staging/orders-api.toml deployments/staging/orders-db.toml deployments/prod/orders-api.toml
# dev/web-frontend and dev/tools-db start at their component's 1.0.0 package (no v1.1.0-only input)
mkdir -p "$repo/deployments/dev"
cat > "$repo/deployments/dev/web-frontend.toml" <<'EOF'
# The customer web front end, on the internal-tooling profile while it is in development.
component = "web-service"
package = "1.0.0"
profile = "internal-tooling"

[overrides.compute]
desired_capacity = 2                 # two instances to exercise the load balancer

[overrides.load-balancer]
health_check_path = "/status"

[app_config]
LOG_LEVEL = "debug"
FEATURE_NEW_CHECKOUT = "true"
EOF
cat > "$repo/deployments/dev/tools-db.toml" <<'EOF'
# The database of the internal tools.
component = "data-store"
package = "1.0.0"
profile = "internal-tooling"

[overrides.database]
allocated_storage_gb = 50

[app_config]
DB_NAME = "tools"
EOF
commit "$repo" "2026-01-20T10:00:00+00:00" "Deploy web-frontend, orders-api, orders-db and tools-db"

put packages/web-service/1.1.0.toml packages/data-store/1.1.0.toml
commit "$repo" "2026-02-09T10:00:00+00:00" "Add packages web-service 1.1.0 and data-store 1.1.0 (modules v1.1.0)"

put deployments/dev/web-frontend.toml deployments/dev/tools-db.toml
commit "$repo" "2026-02-16T10:00:00+00:00" "Move dev/web-frontend and dev/tools-db to 1.1.0"
fi

# The final state must be examples/platform-live exactly.
if ! diff -r -q -x .git "$example" "$repo" >/dev/null; then
  diff -r -q -x .git "$example" "$repo" >&2 || true
  die "the last commit of $repo differs from ${example#"$root"/}"
fi

# --- summary -----------------------------------------------------------------------------------------
echo "Created in $out:"
for m in "${modules[@]}"; do
  printf '  %s/%-14s tags %s  HEAD %s\n' "$modules_dir" "$m" "$(g -C "$out/$modules_dir/$m" tag | tr '\n' ' ')" \
    "$(g -C "$out/$modules_dir/$m" rev-parse --short HEAD)"
done
printf '  %-22s %s commits  HEAD %s\n' "repo" "$(g -C "$repo" rev-list --count HEAD)" \
  "$(g -C "$repo" rev-parse --short HEAD)"
g -C "$repo" log --reverse --format='    %h %ad %s' --date=short
