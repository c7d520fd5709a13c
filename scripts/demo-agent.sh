#!/usr/bin/env bash
# Enrols the demo agent with an enrolment token and runs it (Ctrl-C stops it).
# scripts/demo.sh runs it with a token of its own; by hand, after the console is up:
#   bash scripts/demo-agent.sh cf1.xxxxxxxx.yyyyyyyy.zzzz
# Once enrolled (demo-data/agent/agent.json), it runs again without a token.
# It watches the fixture certificates, a certificate 25 days from expiry (an alert email),
# and a demo eSync server: a private Debian apache2 on 127.0.0.1:8445 that, like many
# hardened servers, offers only ECDSA cipher suites. Renewed certificates to upload are
# written to demo-data/renewals (see the README's "Renew the demo Apache").
set -euo pipefail
cd "$(dirname "$0")/.."
data="$PWD/demo-data"
token="${1:-}"
if [ -z "$token" ] && [ ! -f "$data/agent/agent.json" ]; then
  echo "demo-agent: give the enrolment token made on the Agents page" >&2
  exit 2
fi
gateway="${CERTFLEET_DEMO_GATEWAY:-127.0.0.1:8444}"
apache_port="${CERTFLEET_DEMO_APACHE_PORT:-8445}"
fixtures="$PWD/crates/certkit/tests/fixtures"
unset CERTFLEET_DEMO_GATEWAY CERTFLEET_DEMO_APACHE_PORT
cargo build --quiet -p certfleet-agent
agent="${CARGO_TARGET_DIR:-$PWD/target}/debug/certfleet-agent"
mkdir -p "$data"

# A certificate inside the 30-day alert window, as if it had been running for 11 months.
soon="$data/soon.example.test"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 25 \
  -subj "/CN=soon.example.test" -addext "subjectAltName=DNS:soon.example.test" \
  -keyout "$soon.key" -out "$soon.pem" 2>/dev/null

# The demo eSync server: an internal CA, its current certificate (20 days left), and two
# renewals to upload: a good one (ECDSA, as the server needs) and one this server cannot
# use (RSA: Apache starts, but no client can complete a handshake), which is rolled back.
apache_block=""
apache_started=""
agent_pid=""
# Whatever ends this script (a failed step, Ctrl-C, scripts/demo.sh stopping) stops the
# agent and the Apache it started.
stop() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; fi
  if [ -n "$apache_started" ]; then
    /usr/sbin/apache2 -f "$site/httpd.conf" -k stop >/dev/null 2>&1 || true
  fi
}
trap stop EXIT
trap 'exit 0' INT TERM
if [ -x /usr/sbin/apache2 ]; then
  ca="$data/demo-ca" site="$data/apache" renewals="$data/renewals"
  mkdir -p "$ca" "$site/ssl" "$renewals"
  if [ ! -f "$ca/ca.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=Demo Internal CA" -keyout "$ca/ca.key" -out "$ca/ca.pem" 2>/dev/null
  fi
  issue() { # issue NAME DAYS KEYSPEC...
    local name="$1" days="$2"; shift 2
    openssl req -new -newkey "$@" -nodes -subj "/CN=esync.example.test" \
      -keyout "$name.key" -out "$name.csr" 2>/dev/null
    openssl x509 -req -in "$name.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca.key" -days "$days" \
      -extfile <(printf 'subjectAltName=DNS:esync.example.test\nextendedKeyUsage=serverAuth,clientAuth\n') \
      -out "$name.pem" 2>/dev/null
    rm -f "$name.csr"
  }
  if [ ! -f "$site/ssl/server.pem" ]; then
    issue "$site/ssl/server" 20 ec -pkeyopt ec_paramgen_curve:P-256
    cp "$ca/ca.pem" "$site/ssl/chain.pem"
  fi
  issue "$renewals/esync-renewed" 397 ec -pkeyopt ec_paramgen_curve:P-256
  openssl pkcs12 -export -inkey "$renewals/esync-renewed.key" -in "$renewals/esync-renewed.pem" \
    -certfile "$ca/ca.pem" -passout pass:Renew-2026 -out "$renewals/esync-renewed.pfx"
  issue "$renewals/esync-renewed-rsa" 397 rsa:2048
  cp "$ca/ca.pem" "$renewals/chain.pem"
  modules=/usr/lib/apache2/modules
  # Workers run as www-data, as Debian's own apache2 does (the parent reads the keys as root).
  user_lines=""
  id www-data >/dev/null 2>&1 && user_lines=$'User www-data\nGroup www-data'
  cat > "$site/httpd.conf" <<CONF
# The demo eSync server (a private httpd; certfleet manages its certificate files).
ServerRoot "$site"
PidFile "$site/httpd.pid"
Mutex file:$site
DefaultRuntimeDir "$site"
ErrorLog "$site/error.log"
LogLevel warn
ServerName localhost
$user_lines
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule socache_shmcb_module $modules/mod_socache_shmcb.so
LoadModule ssl_module $modules/mod_ssl.so
Listen 127.0.0.1:$apache_port
<VirtualHost 127.0.0.1:$apache_port>
    ServerName esync.example.test
    SSLEngine on
    SSLProtocol TLSv1.2
    SSLCipherSuite ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384
    SSLCertificateFile "ssl/server.pem"
    SSLCertificateKeyFile "ssl/server.key"
    SSLCertificateChainFile "ssl/chain.pem"
</VirtualHost>
CONF
  # One left over from an earlier run goes first.
  /usr/sbin/apache2 -f "$site/httpd.conf" -k stop >/dev/null 2>&1 && sleep 1 || true
  /usr/sbin/apache2 -f "$site/httpd.conf" -k start
  apache_started=1
  apache_block="
[[apache]]
config = \"$site/httpd.conf\"
config_test = [\"/usr/sbin/apache2\", \"-f\", \"$site/httpd.conf\", \"-t\"]
restart = [\"/usr/sbin/apache2\", \"-f\", \"$site/httpd.conf\", \"-k\", \"graceful\"]
error_log = \"$site/error.log\"
"
  echo "demo-agent: the demo eSync server serves https://127.0.0.1:$apache_port (esync.example.test)"
  echo "demo-agent: renewals to upload are in $renewals (PFX password: Renew-2026)"
else
  echo "demo-agent: /usr/sbin/apache2 is missing (apt-get install apache2): no demo eSync server" >&2
fi

if [ ! -f "$data/agent/agent.json" ]; then
  printf '%s\n' "$token" | "$agent" enroll --server "https://$gateway" --token-file - --data-dir "$data/agent"
fi
cat > "$data/agent/agent.toml" <<TOML
rescan_secs = 30
groups = ["demo", "esync"]

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
$apache_block
TOML
# In the background, so a TERM from scripts/demo.sh stops the agent and the Apache too.
"$agent" run --data-dir "$data/agent" &
agent_pid=$!
wait "$agent_pid"
