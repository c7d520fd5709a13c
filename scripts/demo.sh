#!/usr/bin/env bash
# The README's "run" command: builds certfleet and starts a console with the embedded defaults
# (SQLite file, generated CA, a first admin whose one-time password is printed) and its web
# UI, then enrols and starts the demo agent (scripts/demo-agent.sh) with a token it makes
# itself, and the demo eSync Apache. Run again, it continues where it was. Ctrl-C stops it.
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
# Through a process substitution rather than a pipe, so $! is the console itself (a TERM
# to this script must stop it, not only tee).
"$server" serve --data-dir "$data/console" --api-listen "$api" --gateway-listen "$gateway" \
  2>"$data/console.log" > >(tee "$data/console.out") &
pids+=($!)
for _ in $(seq 1 300); do grep -q "agent gateway on" "$data/console.out" 2>/dev/null && break; sleep 0.1; done
if ! grep -q "agent gateway on" "$data/console.out" 2>/dev/null; then
  echo "the console did not start; its log ($data/console.log) says:" >&2
  grep -v '^  ' "$data/console.log" | head -20 >&2
  exit 1
fi

# The demo agent: enrolled with a token made here on the first run, started again later.
token=""
if [ ! -f "$data/agent/agent.json" ]; then
  token=$("$server" token create --data-dir "$data/console" --gateway-listen "$gateway" \
    2>/dev/null)
fi
bash scripts/demo-agent.sh $token > "$data/agent.out" 2>"$data/agent.log" &
pids+=($!)

password=$(sed -n 's/.*one-time password \([^ ]*\).*/\1/p' "$data/console.out" | head -1)
if [ -n "$password" ]; then
  login="log in as admin with the one-time password $password (shown on the first start
     only), then choose your own"
else
  login="log in as admin with your password (delete $data to start from scratch)"
fi
cat <<TEXT

The console is running, with the demo agent and a demo eSync Apache (logs in $data).
  1. Open https://$api/ and $login.
     The browser warns once: the console's certificate is signed by its own CA; trust it
     by importing $data/console/agent-ca.crt, or accept the warning.
  2. The overview shows the demo agent's certificates within a minute: one healthy, one
     weak, one that expires in 25 days, and the eSync server's, 20 days from expiry.
  3. The 25-day one is inside the 30-day window: its alert email lands in
     $data/mail/new within a minute (also on the Alerts page), once, even across restarts.
  4. A renewal to roll out: upload $data/renewals/esync-renewed.pfx (password Renew-2026)
     on the Renewals page, as the README's "Renew the demo Apache" shows.
Press Ctrl-C to stop.
TEXT
wait
