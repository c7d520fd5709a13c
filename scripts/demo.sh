#!/usr/bin/env bash
# The README's "run" command: builds certfleet, starts a console with the embedded defaults
# (SQLite file, generated CA, a first admin whose one-time password is printed) and a demo
# agent enrolled in it, watching the fixture certificates. Ctrl-C stops both.
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

if [ ! -f "$data/agent/agent.json" ]; then
  token=$("$server" token create --data-dir "$data/console" --gateway-listen "$gateway" 2>/dev/null)
  "$agent" enroll --server "https://$gateway" --token "$token" --data-dir "$data/agent"
  cat > "$data/agent/agent.toml" <<TOML
rescan_secs = 30
groups = ["demo"]

[[pem]]
name = "sage.example.test"
certificate = "$fixtures/leaf.pem"
key = "$fixtures/key-pkcs8.pem"
chain = "$fixtures/chain.pem"

[[pem]]
name = "weak.example.test"
certificate = "$fixtures/weak-sha1-rsa1024.pem"
TOML
fi
"$agent" run --data-dir "$data/agent" 2>"$data/agent.log" &
pids+=($!)

cat <<TEXT

The console is running with a demo agent (logs in $data).
  Web UI: https://$api/   (log in as admin with the one-time password above, printed on
          the first start only; delete $data to start again. The browser will warn about
          the console's own CA: accept it, or import $data/console/agent-ca.crt.)
  API:    https://$api/api/v1
  Try:    curl -sk https://$api/api/v1/login -H 'content-type: application/json' \\
            -d '{"username":"admin","password":"THE-ONE-TIME-PASSWORD"}'
Press Ctrl-C to stop.
TEXT
wait
