#!/usr/bin/env bash
# The README's "run" command: builds certfleet and starts a console with the embedded defaults
# (SQLite file, generated CA, a first admin whose one-time password is printed) and its web
# UI. Enrol the demo agent from the Agents page with scripts/demo-agent.sh. Ctrl-C stops it.
# Everything lives in ./demo-data; delete it to start from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
data="$PWD/demo-data"
api="${CERTFLEET_DEMO_API:-127.0.0.1:8443}"
gateway="${CERTFLEET_DEMO_GATEWAY:-127.0.0.1:8444}"
fixtures="$PWD/crates/certkit/tests/fixtures"

source scripts/tools.sh
ensure_web_tools
bash scripts/build-web.sh
cargo build --quiet -p certfleet-server -p certfleet-agent
target="${CARGO_TARGET_DIR:-$PWD/target}/debug"
server="$target/certfleet-server"
agent="$target/certfleet-agent"
mkdir -p "$data"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$server" serve --data-dir "$data/console" --api-listen "$api" --gateway-listen "$gateway" \
  2>"$data/console.log" | tee "$data/console.out" &
pids+=($!)
for _ in $(seq 1 100); do grep -q "agent gateway on" "$data/console.out" 2>/dev/null && break; sleep 0.1; done

if [ -f "$data/agent/agent.json" ]; then
  # Enrolled on an earlier run: start the demo agent again too.
  "$agent" run --data-dir "$data/agent" 2>"$data/agent.log" &
  pids+=($!)
fi

cat <<TEXT

The console is running (logs in $data).
  1. Open https://$api/ and log in as admin with the one-time password above (printed on
     the first start only; delete $data to start again). The browser warns about the
     console's own CA: accept it, or import $data/console/agent-ca.crt.
  2. Choose your password, open Agents, and create an enrolment token.
  3. In another terminal: bash scripts/demo-agent.sh <the token>
  4. The overview shows the demo agent's certificates (two: one healthy, one weak).
Press Ctrl-C to stop.
TEXT
wait
