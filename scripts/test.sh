#!/usr/bin/env bash
# The README's test command: installs what the tests need when missing (scripts/tools.sh),
# builds the web UI's browser files, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_web_tools
ensure_test_packages
bash scripts/build-web.sh
cargo test --workspace --locked
