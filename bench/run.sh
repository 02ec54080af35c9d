#!/usr/bin/env bash
# make bench: measures the toolkit at fleet scale and against raw Terraform (issue 7).
# Every figure is a median over repeated runs (hyperfine); every comparison is a ratio of two
# commands measured side by side in this same run. Results: bench/results.md and bench/results.json.
# Speed is reported here, never asserted in a test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release"
work="${BENCH_DIR:-$root/bench/work}"
N="${BENCH_DEPLOYMENTS:-10000}"
RUNS="${BENCH_RUNS:-10}"
export GITOPS_CACHE_DIR="$work/cache" GITOPS_STATE_DIR="$work/state" TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
tf="$(command -v terraform || command -v tofu)"
raw="$work/raw"
rm -rf "$work"; mkdir -p "$raw"
# Where B2/B7 write their output. Default: a tmpfs (/dev/shm) when it has room. Rendering 10,000
# deployments creates ~360,000 files, and each run deletes the last; on ext4 without a journal (as on
# the machine this was written on), inodes freed in the last 30 s are skipped one by one when allocating
# (find_inode_bit/recently_deleted), so on disk every run would pay for the previous run's delete.
base="${BENCH_OUT:-}"
if [ -z "$base" ]; then
  base="$work"
  if [ -w /dev/shm ] && [ "$(df -Pk /dev/shm | awk 'NR==2 {print $4}')" -gt 6000000 ]; then base=/dev/shm; fi
fi
out="$(mktemp -d "$base/gitops-bench.XXXXXX")"
outfs="$(df -PT "$out" | awk 'NR==2 {print $2}')"
echo "$outfs" > "$raw/b2-fs"
trap 'rm -rf "$out"' EXIT

hf() { # name, hyperfine args...
  local name=$1; shift
  hyperfine --style basic --export-json "$raw/$name.json" "$@" >"$raw/$name.txt" 2>&1 || { cat "$raw/$name.txt"; exit 1; }
}

# The fleet sizes, once each (BENCH_DEPLOYMENTS=1000 measures 100 and 1000).
sizes="$(printf '%s\n' 100 1000 "$N" | sort -nu | tr '\n' ' ')"
echo "== [${SECONDS}s] fleets: $sizes deployments (deterministic, seed 42)"
for n in $sizes; do
  "$bin/fleetgen" --out "$work/fleet-$n" --deployments "$n" --seed 42 >/dev/null
done
big="$work/fleet-$N/repo"
git -C "$big" worktree add -q "$work/at-one" bench/one
git -C "$big" worktree add -q "$work/at-pkg" bench/pkg

echo "== [${SECONDS}s] B1: --changed-since at $N deployments"
hf b1-one --warmup 2 --runs "$RUNS" "$bin/gitops-render --repo $work/at-one --changed-since bench/base --list --json"
hf b1-pkg --warmup 2 --runs "$RUNS" "$bin/gitops-render --repo $work/at-pkg --changed-since bench/one --list --json"
"$bin/gitops-render" --repo "$work/at-one" --changed-since bench/base --list --json > "$raw/b1-one.out"
"$bin/gitops-render" --repo "$work/at-pkg" --changed-since bench/one --list --json > "$raw/b1-pkg.out"

echo "== [${SECONDS}s] B11: --changed-since --by-render (renders base and head) beside the path-based mode"
for n in $(printf '%s\n' 1000 "$N" | sort -nu); do
  at="$work/fleet-$n/at-one"   # beside repo: gitops.toml finds the modules at ../modules
  git -C "$work/fleet-$n/repo" worktree add -q "$at" bench/one
  "$bin/gitops-render" --repo "$at" --changed-since bench/base --by-render --list --json > "$raw/b11-$n.out"   # warms the cache
  hf "b11-$n" --warmup 1 --runs 3 \
    -n paths "$bin/gitops-render --repo $at --changed-since bench/base --list --json" \
    -n by-render "$bin/gitops-render --repo $at --changed-since bench/base --by-render --list --json"
done

echo "== [${SECONDS}s] B2 + B7: render --all (warm module cache) into $outfs, peak memory"
for n in 100 1000; do
  repo="$work/fleet-$n/repo"
  "$bin/gitops-render" --repo "$repo" --all --out "$out/out-$n" >/dev/null   # warms the cache
  hf "b2-$n" --warmup 1 --runs "$RUNS" --prepare "rm -rf $out/out-$n" "$bin/gitops-render --repo $repo --all --out $out/out-$n"
  rm -rf "$out/out-$n"
done
# At $N, side by side with the floor under it: cp -r of the same rendered tree (same files, same
# bytes). The first render warms the cache and is the tree cp copies.
"$bin/gitops-render" --repo "$big" --all --out "$out/ref" >/dev/null
find "$out/ref" -type f | wc -l > "$raw/b2-files"
hf "b2-$N" --runs 3 --prepare "rm -rf $out/out-$N $out/copy" \
  -n render "$bin/gitops-render --repo $big --all --out $out/out-$N" -n cp "cp -r $out/ref $out/copy"
rm -rf "$out/out-$N" "$out/copy" "$out/ref"
/usr/bin/time -f '%M' -o "$raw/b7.kb" "$bin/gitops-render" --repo "$big" --all --out "$out/out-mem" >/dev/null
rm -rf "$out"
trap - EXIT

echo "== [${SECONDS}s] B9: gitops-report of the fleets of $sizes recorded deployments, each with a state"
# The records are added to the same fleets now that B1/B2/B7 have measured them without.
if [ ! -x "$bin/gitops-report" ]; then
  echo "   skipped: $bin/gitops-report is not built" >&2
else
  for n in $sizes; do
    "$bin/fleetgen" --out "$work/fleet-$n" --add-records --seed 42 --state "$work/state-$n" >/dev/null
  done
  for n in $sizes; do   # hyperfine picks the runs for ~3 s, here 3 to BENCH_RUNS
    hf "b9-$n" --warmup 1 --min-runs 3 --max-runs "$RUNS" \
      "$bin/gitops-report --repo $work/fleet-$n/repo --out $work/report-$n --state-dir $work/state-$n"
  done
  /usr/bin/time -f '%M' -o "$raw/b9.kb" "$bin/gitops-report" --repo "$big" --out "$work/report-$N" --state-dir "$work/state-$N" >/dev/null
  du -b "$work/report-$N"/report.html "$work/report-$N"/report.json "$work/report-$N"/report.md > "$raw/b9-bytes"
fi

echo "== [${SECONDS}s] B6: start-up (--version)"
for b in render plan apply certify tag rollback destroy report review; do
  [ -x "$bin/gitops-$b" ] && hf "b6-$b" --warmup 5 --runs 50 -N "$bin/gitops-$b --version"
done

echo "== [${SECONDS}s] B3: render + gitops-plan + gitops-apply vs terraform init/plan/apply by hand (one deployment)"
ex="$work/example"
bash "$root/scripts/make-example.sh" "$ex" >/dev/null
"$bin/vault-standin" --print-config > "$work/vault.out" & vpid=$!
trap 'kill $vpid 2>/dev/null || true' EXIT   # B2's output is already removed
for _ in $(seq 100); do [ "$(wc -l < "$work/vault.out" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.05; done
export VAULT_ADDR="$(sed -n 's/^VAULT_ADDR=//p' "$work/vault.out")"
export VAULT_TOKEN="$(sed -n 2p "$work/vault.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])')"
d="$work/b3/dev/orders-db"
hand="$work/b3-hand"
toolkit="$bin/gitops-render --repo $ex/repo dev/orders-db --out $d && $bin/gitops-plan --repo $ex/repo $d >/dev/null; [ \$? -eq 4 ] && $bin/gitops-apply --repo $ex/repo $d"
"$bin/gitops-render" --repo "$ex/repo" dev/orders-db --out "$hand" >/dev/null
byhand="$tf -chdir=$hand init -input=false -no-color && $tf -chdir=$hand plan -input=false -no-color -out=plan.bin && $tf -chdir=$hand apply -input=false -no-color plan.bin"
hf b3 --runs "$RUNS" \
  --prepare "$tf -chdir=$hand destroy -auto-approve -no-color >/dev/null 2>&1 || true; rm -rf $work/state/dev/orders-db.tfstate* $hand/.terraform $d" \
  -n toolkit "bash -c '$toolkit' >/dev/null" -n by-hand "bash -c '$byhand' >/dev/null"

echo "== [${SECONDS}s] B4: 50 deployments of one package: vendored from the shared cache vs terraform init cloning git:: sources"
b4="$work/b4"
mkdir -p "$b4"
for i in $(seq -w 1 50); do
  printf 'component = "data-store"\npackage = "1.0.0"\nprofile = "database-cluster"\n' > "$ex/repo/deployments/dev/b4-$i.toml"
done
git -C "$ex/repo" add -A && git -C "$ex/repo" -c user.name=b -c user.email=b@x commit -qm "50 deployments of one package"
rm -rf "$work/cache-b4"
hf b4 --runs 3 \
  --prepare "rm -rf $b4/v $b4/g $work/cache-b4" \
  -n vendored "bash -c 'GITOPS_CACHE_DIR=$work/cache-b4 $bin/gitops-render --repo $ex/repo --changed-since HEAD~1 --out $b4/v >/dev/null && for i in \$(seq -w 1 50); do $tf -chdir=$b4/v/dev/b4-\$i init -backend=false -input=false >/dev/null; done'" \
  -n git-sources "bash -c 'GITOPS_CACHE_DIR=$work/cache-b4 $bin/gitops-render --repo $ex/repo --changed-since HEAD~1 --out $b4/g --no-vendor >/dev/null && for i in \$(seq -w 1 50); do $tf -chdir=$b4/g/dev/b4-\$i init -backend=false -input=false >/dev/null; done'"
# Bytes fetched: git objects fetched into the shared mirrors once, vs module code each init cloned.
du -sb "$work/cache-b4/repos" | cut -f1 > "$raw/b4-vendored.bytes"
du -sb $(ls -d "$b4"/g/dev/b4-*/.terraform/modules) | awk '{s+=$1} END {print s}' > "$raw/b4-git.bytes"

if [ -x "$bin/gitops-certify" ]; then
  echo "== [${SECONDS}s] B5: certify an unchanged, certified package (no-op) vs a full certification"
  "$bin/gitops-certify" run data-store 1.0.0 --repo "$ex/repo" >/dev/null 2>&1
  hf b5 --warmup 1 --runs 5 -n no-op "$bin/gitops-certify run data-store 1.0.0 --repo $ex/repo" \
    -n full "$bin/gitops-certify run data-store 1.0.0 --repo $ex/repo --force"
fi

echo "== [${SECONDS}s] B10: AWS on moto: render + gitops-plan + gitops-apply vs terraform init/plan/apply by hand (aws-dev/orders-api)"
bash "$root/bench/b10-aws.sh" "$work" "$tf"

echo "== [${SECONDS}s] B8: 100 deployments in 3 dependency waves through gitopsPipeline (step harness, real binaries and Terraform), 1/2/4/8 lanes"
# One build per lane count (each plans, applies and tags all 100 in a fresh example): a single
# run each, side by side in this run, not a median (a run is a minute).
if command -v groovy >/dev/null && [ -f /usr/share/java/CodeNarc.jar ]; then
  if [ -z "${JAVA_HOME:-}" ] && [ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/java ]; then
    export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64
  fi
  g="$root/tests/groovy"
  JAVA_OPTS="-Dgroovy.root=$work/groovy-home" groovy -cp "$g/stubs:$g/harness:$root/src" "$g/bench-waves.groovy" \
    "$root" "$work/b8" ${BENCH_LANES:-1 2 4 8} > "$raw/b8.jsonl" 2> "$raw/b8.err" || { tail -40 "$raw/b8.err"; exit 1; }
  grep '^B8' "$raw/b8.err" | sed 's/^/   /'
else
  echo "   skipped: groovy is not installed (make tools installs it)" >&2
fi

echo "== [${SECONDS}s] done"
python3 "$root/bench/report.py" "$work" "$N" "$tf"
