#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60) on stable Rust.
#   scripts/fuzz.sh [SECONDS]
# cargo fuzz needs nightly flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. cargo-fuzz is installed from crates.io when missing. Crashes land in
# fuzz/artifacts/<target>/; new corpus entries go to a scratch copy, not to fuzz/corpus/.
set -euo pipefail
secs="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for t in $targets; do
  mkdir -p "$scratch/$t"
  cp -r "corpus/$t/." "$scratch/$t/"
  echo "== $t: ${secs}s"
  if ! cargo fuzz run -O "$t" "$scratch/$t" -- -max_total_time="$secs" -print_final_stats=1 \
      2> "$scratch/$t.log"; then
    status=1
    echo "   CRASH: see fuzz/artifacts/$t/" >&2
  fi
  grep -E '^stat::number_of_executed_units|^Done ' "$scratch/$t.log" | sed 's/^/   /' || true
  tail -n 20 "$scratch/$t.log" | grep -E 'ERROR|panicked|SUMMARY' | sed 's/^/   /' || true
done
exit "$status"
