#!/usr/bin/env bash
# The scale table of BENCHMARKS.md in one run: the swarm of 10,000 agents beside the bare
# stack, the fan-out to 1,000 and 10,000, the store's ingest, the agent's footprint and the
# web UI's size. Builds first (not timed), then runs each bench one after the other (they
# share the machine's two cores) and prints every table again at the end, with the time the
# runs took. Each bench's full output is kept in $BENCH_LOGS (default: a temporary folder).
#
#   bash scripts/bench.sh
#
# SWARM_AGENTS and FANOUT_AGENTS (the larger fan-out) change the sizes; the defaults are the
# figures BENCHMARKS.md holds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/certfleet-target}"
export CARGO_TERM_COLOR=never
logs="${BENCH_LOGS:-$(mktemp -d)}"
mkdir -p "$logs"

echo "bench: building (release) ..."
cargo build --release --locked -p certfleet-server -p certfleet-agent
# The agent as shipped, on its own: its size and memory are what the agent bench measures.
cargo build --profile agent --locked -p certfleet-agent
if rustup target list --installed 2>/dev/null | grep -q x86_64-pc-windows-gnu; then
  cargo build --profile agent --locked -p certfleet-agent --target x86_64-pc-windows-gnu
fi
cargo bench --locked -p certfleet-e2e -p certfleet-store --no-run 2>&1 | grep -v '^ *Executable' || true
bash scripts/build-web.sh > "$logs/web.log" 2>&1 || { cat "$logs/web.log"; exit 1; }

started=$(date +%s)
run() {
  local name=$1
  shift
  echo "bench: $name ($(date -u +%H:%M:%S))"
  if ! env "$@" > "$logs/$name.log" 2>&1; then
    tail -30 "$logs/$name.log"
    echo "bench: $name failed; its output is in $logs/$name.log" >&2
    exit 1
  fi
}
run swarm SWARM_AGENTS="${SWARM_AGENTS:-10000}" cargo bench --locked -q -p certfleet-e2e --bench swarm
run fanout-1000 FANOUT_AGENTS=1000 cargo bench --locked -q -p certfleet-e2e --bench fanout
run fanout-large FANOUT_AGENTS="${FANOUT_AGENTS:-10000}" cargo bench --locked -q -p certfleet-e2e --bench fanout
run store HOSTS=10000 CERTS_PER_HOST=10 BATCH=1024 cargo bench --locked -q -p certfleet-store --bench ingest
run agent cargo bench --locked -q -p certfleet-e2e --bench agent
elapsed=$(( $(date +%s) - started ))

# The swarm and the agent end with a table (Markdown rows); the fan-out and the store print
# their figures as lines.
for name in swarm fanout-1000 fanout-large store agent; do
  printf '\n## %s\n\n' "$name"
  grep -E '^\||^CPU during|^click ->|^second wave:|certificate rows/s' "$logs/$name.log" \
    || tail -5 "$logs/$name.log"
done
printf '\n## web UI\n\n'
grep 'KiB' "$logs/web.log"
printf '\nbench: the runs took %d min %d s (logs in %s)\n' $((elapsed / 60)) $((elapsed % 60)) "$logs"
