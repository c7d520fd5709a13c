#!/usr/bin/env bash
# The README's test command: installs what the tests need when missing (scripts/tools.sh),
# builds the web UI's browser files and the Windows agent (which the Wine lane, e2e/tests/
# wine.rs, runs under wine64), then runs every test of the workspace and checks that every
# test THREATS.md and RELIABILITY.md name exists.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_web_tools
ensure_test_packages
ensure_windows_target
ensure_schemathesis
bash scripts/build-web.sh
# Built here, not from inside a test: a cargo build there would wait on this build's lock.
# The agent as shipped (small over fast): the Wine lane tests the very build users get.
cargo build --profile agent -p certfleet-agent --target x86_64-pc-windows-gnu --locked
cargo test --workspace --locked
# Every test THREATS.md (a mitigation's proof) and RELIABILITY.md (a fault cell) names must exist.
bash scripts/check-named-tests.sh
