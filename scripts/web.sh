#!/usr/bin/env bash
# The browser demo: builds walloc-wasm into web/pkg, then (`serve`) serves web/ on localhost.
#
#   bash scripts/web.sh          # build, then serve on http://127.0.0.1:8080/ (PORT=… to change)
#   bash scripts/web.sh build    # build only
#
# Build: cargo for wasm32-unknown-unknown (+simd128, from .cargo/config.toml), wasm-bindgen
# at exactly the version Cargo.lock pins (installed with `cargo install` when missing or
# different), wasm-opt from npm's binaryen (web/package-lock.json), and web/pkg/catalog.json
# (the models and samples the page offers). Steps whose inputs did not change are skipped,
# so a rebuild with nothing to do takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target="${CARGO_TARGET_DIR:-$root/target}"
mode="${1:-serve}"
case "$mode" in build | serve) ;; *) echo "usage: $0 [build|serve]" >&2; exit 2 ;; esac
say() { echo "web.sh: $*" >&2; }

command -v node >/dev/null || { say "node (with npm) is needed: apt-get install nodejs npm"; exit 1; }
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be the exact version of the wasm-bindgen crate in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
[ -n "$want" ] || { say "wasm-bindgen is not in Cargo.lock"; exit 1; }
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (found: ${have:-none}); takes about 6 minutes"
  # Not --locked: its lock file names a webpki-roots version the registry no longer has.
  cargo install wasm-bindgen-cli --version "$want"
fi

# npm packages (binaryen for wasm-opt, playwright-core for the browser test), pinned by
# web/package-lock.json; reinstalled when the lock file is newer than the install.
if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && npm ci --no-audit --no-fund)
fi

cargo build --release -p walloc-wasm --target wasm32-unknown-unknown
wasm="$target/wasm32-unknown-unknown/release/walloc_wasm.wasm"
stamp=web/pkg/.built-from
sum=$(sha256sum "$wasm" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] || [ ! -f web/pkg/walloc_wasm_bg.wasm ]; then
  rm -rf web/pkg
  wasm-bindgen --target web --no-typescript --out-dir web/pkg "$wasm"
  # Debian's binaryen 108 breaks the module; npm's 132 works with these exact features
  # (--all-features breaks it too). -O3: decoding speed matters more than the bytes -Oz
  # would save (docs in web/README.md).
  web/node_modules/.bin/wasm-opt -O3 \
    --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext \
    --enable-simd \
    web/pkg/walloc_wasm_bg.wasm -o web/pkg/walloc_wasm_bg.opt.wasm
  mv web/pkg/walloc_wasm_bg.opt.wasm web/pkg/walloc_wasm_bg.wasm
  echo "$sum" >"$stamp"
fi
node web/tools/catalog.mjs
raw=$(stat -c %s web/pkg/walloc_wasm_bg.wasm)
gz=$(gzip -9c web/pkg/walloc_wasm_bg.wasm | wc -c)
say "web/pkg/walloc_wasm_bg.wasm: $raw bytes, $gz gzipped (models are fetched separately)"

if [ "$mode" = serve ]; then
  exec node web/serve.mjs --port "${PORT:-8080}"
fi
