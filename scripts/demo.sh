#!/usr/bin/env bash
# The README's "run" command: builds certfleet and starts a console with the embedded defaults
# (SQLite file, generated CA, a first admin whose one-time password is printed) and its web
# UI. Enrol the demo agent from the Agents page with scripts/demo-agent.sh. Ctrl-C stops it.
# Alert emails go to a local SMTP server (aiosmtpd on 127.0.0.1:2525) that files them under
# ./demo-data/mail/new. Everything lives in ./demo-data; delete it to start from scratch.
set -euo pipefail
cd "$(dirname "$0")/.."
data="$PWD/demo-data"
api="${CERTFLEET_DEMO_API:-127.0.0.1:8443}"
gateway="${CERTFLEET_DEMO_GATEWAY:-127.0.0.1:8444}"
smtp_port="${CERTFLEET_DEMO_SMTP_PORT:-2525}"
# The console reads every CERTFLEET_ variable as a setting: keep the demo's own out of it.
unset CERTFLEET_DEMO_API CERTFLEET_DEMO_GATEWAY CERTFLEET_DEMO_SMTP_PORT

source scripts/tools.sh
ensure_web_tools
ensure_mail_listener
bash scripts/build-web.sh
cargo build --quiet -p certfleet-server -p certfleet-agent
target="${CARGO_TARGET_DIR:-$PWD/target}/debug"
server="$target/certfleet-server"
agent="$target/certfleet-agent"
mkdir -p "$data"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

/usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$data/mail" \
  2>"$data/smtp.log" &
pids+=($!)

# Alerts: every email at once (no daily digest), checked every 10 s, to the demo mailbox.
export CERTFLEET_ALERTS__SMTP__HOST=127.0.0.1 CERTFLEET_ALERTS__SMTP__PORT="$smtp_port" \
  CERTFLEET_ALERTS__SMTP__SECURITY=none CERTFLEET_ALERTS__SMTP__FROM=certfleet@demo.example \
  CERTFLEET_ALERTS__RECIPIENTS='["it-ops@demo.example"]' CERTFLEET_ALERTS__DIGEST_AT=off \
  CERTFLEET_ALERTS__CHECK_SECS=10 CERTFLEET_ALERTS__BASE_URL="https://$api"
"$server" serve --data-dir "$data/console" --api-listen "$api" --gateway-listen "$gateway" \
  2>"$data/console.log" | tee "$data/console.out" &
pids+=($!)
for _ in $(seq 1 100); do grep -q "agent gateway on" "$data/console.out" 2>/dev/null && break; sleep 0.1; done
if ! grep -q "agent gateway on" "$data/console.out" 2>/dev/null; then
  echo "the console did not start; its log ($data/console.log) says:" >&2
  grep -v '^  ' "$data/console.log" | head -20 >&2
  exit 1
fi

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
  4. The overview shows the demo agent's certificates: one healthy, one weak, and one that
     expires in 25 days. That one is inside the 30-day window: its alert email arrives in
     $data/mail/new within a minute (also listed on the Alerts page). Restarting this
     script does not send it again.
Press Ctrl-C to stop.
TEXT
wait
