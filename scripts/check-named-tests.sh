#!/usr/bin/env bash
# Every test THREATS.md and RELIABILITY.md name must exist: lists the workspace's tests
# (already built by the test run) and fails naming each one that is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
listed=$(cargo test --workspace --locked -q -- --list 2>/dev/null | sed -n 's/: test$//p' | sed 's/.*:://')
missing=0
for doc in THREATS.md RELIABILITY.md; do
  # Test names are the backquoted snake_case words in the table rows' last column.
  for name in $(grep '^|' "$doc" | awk -F'|' '{print $(NF-1)}' | grep -o '`[a-z0-9_]*`' | tr -d '`' | sort -u); do
    if ! grep -qx "$name" <<<"$listed"; then
      echo "$doc names a test that does not exist: $name"
      missing=1
    fi
  done
done
if [ "$missing" -ne 0 ]; then
  echo "fix the name in the document, or write the test"
  exit 1
fi
echo "THREATS.md, RELIABILITY.md: every named test exists"
