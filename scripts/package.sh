#!/usr/bin/env bash
# Builds the npm package `offline-cart` into pkg/ from ONE cargo build of the browser module:
# wasm-pack builds it (wasm-release profile) and runs wasm-bindgen for `--target bundler`
# (pkg/offline_cart*.js, .wasm); wasm-bindgen then makes the `--target web` glue (pkg/web/)
# from the same .wasm, which the plain-page and the Node entries load. wasm-bindgen 0.2.130
# writes the same .wasm for both targets (both import "./offline_cart_bg.js"), so the package
# ships one: the web glue is given pkg/offline_cart_bg.wasm, and this script stops if the two
# ever differ. wasm-opt shrinks it; scripts/package-entry.mjs adds the package's JS (js/), README, LICENSE and
# package.json's exports map. Prints the sizes. Run by scripts/build.sh and scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

# --mode no-install: use the wasm-bindgen CLI that setup.sh installed at the version in
# Cargo.lock, never a download. The wasm-release profile is the size-tuned release profile
# of the browser module (see Cargo.toml). wasm-pack's own wasm-opt step is off (it would
# download binaryen); the current wasm-opt from node_modules runs after it (optimize_wasm in
# scripts/lib.sh says which level and why).
rm -rf pkg
wasm-pack build --profile wasm-release --target bundler --out-dir pkg --out-name offline_cart --mode no-install
name=$(node -p 'require("./pkg/package.json").name')
if [[ "$name" != offline-cart ]]; then
  echo "pkg/package.json is named \"$name\", expected \"offline-cart\"" >&2
  exit 1
fi
# The same cargo output, bound for `--target web`: no second cargo build.
target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).target_directory))')
wasm-bindgen --target web --out-dir pkg/web --out-name offline_cart \
  "$target_dir/wasm32-unknown-unknown/wasm-release/offline_cart.wasm"
if ! cmp -s pkg/offline_cart_bg.wasm pkg/web/offline_cart_bg.wasm; then
  echo "wasm-bindgen wrote different .wasm files for --target bundler and --target web: ship both (scripts/package-entry.mjs)" >&2
  exit 1
fi
rm -f pkg/web/offline_cart_bg.wasm pkg/web/offline_cart_bg.wasm.d.ts pkg/web/.gitignore
optimize_wasm pkg/offline_cart_bg.wasm
node scripts/package-entry.mjs pkg
