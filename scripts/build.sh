#!/usr/bin/env bash
# Builds the npm package `offline-cart` into pkg/ (scripts/package.sh: one cargo build, the
# bundler and web glue, js/ as its entries) and the storefront demo into
# dist/ (webpack: the storefront, the drop-in offline-cart-embed.js with embed.html, and the
# service worker sw.js) with a brotli and a gzip copy of each file next to it
# (scripts/compress.mjs, served by cart-server), printing the size a browser downloads. Needs
# what scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

WASM=pkg/offline_cart_bg.wasm

gzip_bytes() { gzip -9 -c "$1" | wc -c; }

# Each file gzipped on its own, as a server would send it.
print_sizes() {
  local file glue_raw=0 glue_gzip=0 wasm_raw wasm_gzip
  wasm_raw=$(wc -c < "$WASM")
  wasm_gzip=$(gzip_bytes "$WASM")
  while IFS= read -r file; do
    glue_raw=$(( glue_raw + $(wc -c < "$file") ))
    glue_gzip=$(( glue_gzip + $(gzip_bytes "$file") ))
  done < <(find pkg -maxdepth 1 -name 'offline_cart*.js' -o -path 'pkg/snippets/*.js')
  printf '%-16s %9d B raw %9d B gzip -9\n' \
    .wasm "$wasm_raw" "$wasm_gzip" \
    "JS glue + .wasm" $(( glue_raw + wasm_raw )) $(( glue_gzip + wasm_gzip ))
}

step "npm package (pkg/)" bash scripts/package.sh
step "sizes" print_sizes
step "webpack (dist/)" npx --no-install webpack --mode production
step "precompress dist/ (sizes as sent)" node scripts/compress.mjs dist
step_summary
