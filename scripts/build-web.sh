#!/usr/bin/env bash
# Builds the browser half of the web UI into $CARGO_TARGET_DIR/site (default target/site):
# the app compiled to wasm (feature hydrate), bound by wasm-bindgen (exactly the version in
# Cargo.lock), shrunk by wasm-opt (npm's binaryen: Debian's 108 breaks hydration), plus the
# stylesheet, each also precompressed (.br, .gz) for the console to serve.
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen-cli, binaryen (npm), brotli, gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
site="$target_dir/site"
tools="${CERTFLEET_TOOLS:-$HOME/.cache/certfleet-tools}"
export PATH="$tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

fail() { echo "build-web: $*" >&2; exit 1; }
lock_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
command -v wasm-bindgen >/dev/null || fail "wasm-bindgen is missing: cargo install wasm-bindgen-cli --version $lock_version"
cli_version=$(wasm-bindgen --version | awk '{ print $2 }')
[ "$cli_version" = "$lock_version" ] || fail "wasm-bindgen $cli_version does not match Cargo.lock's $lock_version: cargo install wasm-bindgen-cli --version $lock_version --force"
command -v wasm-opt >/dev/null || fail "wasm-opt is missing: (cd $tools && npm install binaryen@132)"
command -v brotli >/dev/null || fail "brotli is missing: apt-get install brotli"

# (.cargo/config.toml sets --cfg erase_components for every build: much smaller wasm.)
cargo rustc --quiet -p certfleet-web --lib --crate-type cdylib --locked \
  --target wasm32-unknown-unknown --features hydrate --profile wasm-release
mkdir -p "$site/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" --out-name certfleet \
  "$target_dir/wasm32-unknown-unknown/wasm-release/certfleet_web.wasm"
wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --strip-debug --strip-producers \
  "$site/pkg/certfleet_bg.wasm" -o "$site/pkg/certfleet_bg.wasm"
cp web/style/certfleet.css "$site/pkg/certfleet.css"
for file in "$site/pkg/certfleet_bg.wasm" "$site/pkg/certfleet.js" "$site/pkg/certfleet.css"; do
  brotli -f -q 11 -k "$file"
  gzip -f -9 -k "$file"
done
raw=$(stat -c %s "$site/pkg/certfleet_bg.wasm")
brotli_size=$(stat -c %s "$site/pkg/certfleet_bg.wasm.br")
echo "build-web: $(( raw / 1024 )) KiB wasm, $(( brotli_size / 1024 )) KiB brotli -> $site/pkg"
# The budget (BENCHMARKS.md): a page that grows the wasm past it fails the build here, not
# silently in a browser on a slow line.
budget_raw=$(( 1024 * 1024 ))
budget_brotli=$(( 300 * 1024 ))
[ "$raw" -le "$budget_raw" ] || fail "the wasm is $(( raw / 1024 )) KiB, over its budget of $(( budget_raw / 1024 )) KiB: make the new code smaller (twiggy top shows what grew) or raise the budget in scripts/build-web.sh and BENCHMARKS.md with the reason"
[ "$brotli_size" -le "$budget_brotli" ] || fail "the wasm is $(( brotli_size / 1024 )) KiB brotli-compressed, over its budget of $(( budget_brotli / 1024 )) KiB: make the new code smaller (twiggy top shows what grew) or raise the budget in scripts/build-web.sh and BENCHMARKS.md with the reason"
