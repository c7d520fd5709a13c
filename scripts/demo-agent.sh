#!/usr/bin/env bash
# Enrols the demo agent with a token from the console's Agents page, points it at the fixture
# certificates, and runs it (Ctrl-C stops it). Start the console first: bash scripts/demo.sh
#   bash scripts/demo-agent.sh cf1.xxxxxxxx.yyyyyyyy.zzzz
set -euo pipefail
cd "$(dirname "$0")/.."
token="${1:?give the enrolment token made on the Agents page}"
data="$PWD/demo-data"
gateway="${CERTFLEET_DEMO_GATEWAY:-127.0.0.1:8444}"
fixtures="$PWD/crates/certkit/tests/fixtures"
unset CERTFLEET_DEMO_GATEWAY
cargo build --quiet -p certfleet-agent
agent="${CARGO_TARGET_DIR:-$PWD/target}/debug/certfleet-agent"

# A certificate inside the 30-day alert window, as if it had been running for 11 months.
soon="$data/soon.example.test"
mkdir -p "$data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 25 \
  -subj "/CN=soon.example.test" -addext "subjectAltName=DNS:soon.example.test" \
  -keyout "$soon.key" -out "$soon.pem" 2>/dev/null

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
name = "soon.example.test"
certificate = "$soon.pem"
key = "$soon.key"

[[pem]]
name = "weak.example.test"
certificate = "$fixtures/weak-sha1-rsa1024.pem"
TOML
exec "$agent" run --data-dir "$data/agent"
