#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short, bounded time (FUZZ_SECS, default 20 s);
# exits non-zero if any target crashes, hangs or fails to build. Called by .ci/run.
#
# Works on a stable toolchain: cargo-fuzz passes `-Z` flags to rustc, which RUSTC_BOOTSTRAP=1
# allows (on nightly it changes nothing). The committed corpus is only read: new inputs go to a
# scratch directory, so CI never dirties the work tree.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECS:-20}"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1
# A cache written by a build without RUSTC_BOOTSTRAP makes cargo think -Z flags are refused.
rm -f fuzz/target/.rustc_info.json

cargo fuzz build

passed=0
failed=0
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo fuzz list); do
    mkdir -p "$scratch/$target"
    echo "== fuzz $target for ${secs}s"
    if cargo fuzz run "$target" "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/$target.log" | tail -n 1 || true
        grep -E 'stat::number_of_executed_units' "$scratch/$target.log" || true
        passed=$((passed + 1))
    else
        echo "!! $target failed; the end of its log:"
        tail -n 60 "$scratch/$target.log"
        echo "!! the crashing input is in fuzz/artifacts/$target/"
        failed=$((failed + 1))
    fi
done
echo "fuzz: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
