#!/usr/bin/env bash
# Installs what building the web UI and running the tests need, skipping what is already
# there. Sourced by scripts/test.sh, scripts/demo.sh and .ci/run. Everything comes from the
# package registries (Debian, crates.io, npm): never a downloaded browser or binary.
set -euo pipefail

CERTFLEET_TOOLS="${CERTFLEET_TOOLS:-$HOME/.cache/certfleet-tools}"
export PATH="$CERTFLEET_TOOLS/node_modules/.bin:$HOME/.cargo/bin:$PATH"

apt_install() { # packages...
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local policy_added=""
  # Keep the system apache2 service from starting: the tests run their own instance.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@"
  [ -z "$policy_added" ] || $sudo rm -f /usr/sbin/policy-rc.d
}

# The web UI's build: wasm target, wasm-bindgen-cli at the lock's version, binaryen, brotli.
ensure_web_tools() {
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local toolchain; toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$root/rust-toolchain.toml")
  rustup target list --installed --toolchain "$toolchain" 2>/dev/null | grep -q wasm32-unknown-unknown ||
    rustup target add --toolchain "$toolchain" wasm32-unknown-unknown
  local want; want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')" != "$want" ]; then
    # Without --locked: a pinned dependency of the CLI is missing from the registry.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
  if [ "$(wasm-opt --version 2>/dev/null | awk '{ print $3 }')" != "132" ]; then
    mkdir -p "$CERTFLEET_TOOLS"
    (cd "$CERTFLEET_TOOLS" && npm install --no-audit --no-fund --silent binaryen@132)
  fi
  command -v brotli >/dev/null || apt_install brotli
}

have_aiosmtpd() { /usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null; }

# The demo's SMTP server (Debian's aiosmtpd), which alert emails go to.
ensure_mail_listener() {
  have_aiosmtpd || apt_install python3-aiosmtpd
}

# The end-to-end tests: Debian's apache2, chromium and chromedriver, aiosmtpd as the SMTP
# server that alert emails go to, pebble as the ACME CA, iproute2 for the network-cut cells,
# and for the Windows agent's lane wine64 and MinGW (ring's C code for the Windows build, and
# the ProcessPrng shim Wine 8.0 lacks).
ensure_test_packages() {
  local need=()
  [ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || need+=(wine64)
  command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
  [ -x /usr/sbin/apache2 ] || need+=(apache2)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
  have_aiosmtpd || need+=(python3-aiosmtpd)
  # The client-trust tests run the real update-ca-certificates (and its openssl rehash).
  [ -x /usr/sbin/update-ca-certificates ] || need+=(ca-certificates)
  command -v openssl >/dev/null || need+=(openssl)
  # ACME renewals are tested against Debian's pebble and pebble-challtestsrv on loopback.
  [ -x /usr/bin/pebble ] && [ -x /usr/bin/pebble-challtestsrv ] || need+=(pebble)
  # The network-cut fault cells make a network namespace and a veth pair with `ip`.
  command -v ip >/dev/null || [ -x /usr/sbin/ip ] || need+=(iproute2)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
}

# The API's schema check (e2e/tests/api_schema.rs): schemathesis from PyPI, pinned with all it
# installs in scripts/schemathesis-requirements.txt, in its own virtual environment (the
# system's Python is left alone). Made again when the pins change.
ensure_schemathesis() {
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local venv="$CERTFLEET_TOOLS/schemathesis" pins="$root/scripts/schemathesis-requirements.txt"
  if ! cmp -s "$pins" "$venv/requirements.txt" || [ ! -x "$venv/bin/schemathesis" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$pins"
    cp "$pins" "$venv/requirements.txt"
  fi
  # Not a CERTFLEET_ name: the console takes those from its environment as configuration.
  export SCHEMATHESIS_BIN="$venv/bin/schemathesis"
}

# The agent's Windows build target.
ensure_windows_target() {
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local toolchain; toolchain=$(sed -n 's/^channel = "\(.*\)"/\1/p' "$root/rust-toolchain.toml")
  rustup target list --installed --toolchain "$toolchain" 2>/dev/null | grep -q x86_64-pc-windows-gnu ||
    rustup target add --toolchain "$toolchain" x86_64-pc-windows-gnu
}
