#!/usr/bin/env bash
# Fuzzes one target of fuzz/ (RELIABILITY.md, "Fuzzing"): starts from the committed corpus,
# runs libFuzzer for RUNS executions (default 10 million), then minimises what it found back
# into fuzz/corpus/TARGET, which the ordinary tests replay. Not part of CI.
#
#   bash scripts/fuzz.sh TARGET [RUNS]     # TARGET: one of `ls fuzz/fuzz_targets`
#
# cargo-fuzz passes nightly-only flags (the sanitizer); where only a stable toolchain can be
# had, RUSTC_BOOTSTRAP=1 lets it accept them (set here unless a nightly is named with
# FUZZ_TOOLCHAIN=+nightly). A crash is saved under fuzz/artifacts/TARGET/; reproduce it with
# `cargo fuzz run TARGET FILE`, fix it, and commit the file into the corpus.
# FUZZ_SANITIZER=none builds without AddressSanitizer (cargo-fuzz's `-s`): for a target
# whose code is safe Rust it finds the same panics, overflows and timeouts, faster.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?name a target: $(ls fuzz/fuzz_targets | sed 's/\.rs$//' | tr '\n' ' ')}"
runs="${2:-10000000}"
[ -f "fuzz/fuzz_targets/$target.rs" ] || { echo "no fuzz target $target in fuzz/fuzz_targets" >&2; exit 2; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
toolchain="${FUZZ_TOOLCHAIN:-}"
sanitizer="${FUZZ_SANITIZER:-address}"
[ -n "$toolchain" ] || export RUSTC_BOOTSTRAP=1
# Outside the clone, like every other build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/certfleet-target}/fuzz"
export SQLX_OFFLINE=true

work="fuzz/work/$target"
rm -rf "$work"; mkdir -p "$work"
cp fuzz/corpus/"$target"/* "$work"/ 2>/dev/null || true
start=$(date +%s)
# -timeout: an input that takes 10 s is a finding (an unbounded loop, an absurd key-derivation
# count); -rss_limit_mb: so is one that needs 2 GiB; -max_len: frames and forms are small.
set +e
cargo $toolchain fuzz run --release --debug-assertions -s "$sanitizer" "$target" "$work" -- \
  -runs="$runs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>&1 |
  tee "fuzz/work/$target.log" |
  { grep -E '^(#[0-9]+ +(DONE|pulse)|stat::|==[0-9]+==|SUMMARY|artifact_prefix|Test unit)' || true; }
status=${PIPESTATUS[0]}
set -e
secs=$(( $(date +%s) - start ))
[ "$status" -eq 0 ] || { echo "fuzz: $target failed after ${secs}s (fuzz/work/$target.log; the input is in fuzz/artifacts/$target/)" >&2; exit 1; }

# Keep only what adds coverage, in place of the committed corpus.
cargo $toolchain fuzz cmin --release --debug-assertions -s "$sanitizer" "$target" "$work" >/dev/null 2>&1
rm -rf "fuzz/corpus/$target"; mkdir -p "fuzz/corpus/$target"; cp "$work"/* "fuzz/corpus/$target/"
executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/work/$target.log" | tail -1)
echo "fuzz: $target ($sanitizer): ${executions:-?} executions in ${secs}s, no crash; corpus $(ls "fuzz/corpus/$target" | wc -l) files ($(cat "fuzz/corpus/$target"/* | wc -c) bytes)"
