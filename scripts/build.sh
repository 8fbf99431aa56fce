#!/usr/bin/env bash
# Builds the npm package `offline-cart` into pkg/ (wasm-pack, then js/ as its entry:
# scripts/package-entry.mjs) and the storefront demo into
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

npm_package() {
  # --mode no-install: use the wasm-bindgen CLI that setup.sh installed at the version in
  # Cargo.lock, never a download. The wasm-release profile is the size-tuned release profile
  # of the browser module (see Cargo.toml). wasm-pack's own wasm-opt step is off (it would
  # download binaryen); the current wasm-opt from node_modules runs after it (optimize_wasm in
  # scripts/lib.sh says which level and why).
  wasm-pack build --profile wasm-release --target bundler --out-dir pkg --out-name offline_cart --mode no-install
  optimize_wasm "$WASM"
  local name
  name=$(node -p 'require("./pkg/package.json").name')
  if [[ "$name" != offline-cart ]]; then
    echo "pkg/package.json is named \"$name\", expected \"offline-cart\"" >&2
    return 1
  fi
  # The small entry (js/) that gives a cart before the .wasm has arrived; prints its size.
  node scripts/package-entry.mjs pkg
}

# Each file gzipped on its own, as a server would send it.
print_sizes() {
  local file glue_raw=0 glue_gzip=0 wasm_raw wasm_gzip
  wasm_raw=$(wc -c < "$WASM")
  wasm_gzip=$(gzip_bytes "$WASM")
  while IFS= read -r file; do
    glue_raw=$(( glue_raw + $(wc -c < "$file") ))
    glue_gzip=$(( glue_gzip + $(gzip_bytes "$file") ))
  done < <(find pkg -name 'offline_cart*.js' -o -path 'pkg/snippets/*.js')
  printf '%-16s %9d B raw %9d B gzip -9\n' \
    .wasm "$wasm_raw" "$wasm_gzip" \
    "JS glue + .wasm" $(( glue_raw + wasm_raw )) $(( glue_gzip + wasm_gzip ))
}

step "wasm-pack build (pkg/)" npm_package
step "sizes" print_sizes
step "webpack (dist/)" npx --no-install webpack --mode production
step "precompress dist/ (sizes as sent)" node scripts/compress.mjs dist
step_summary
