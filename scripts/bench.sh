#!/usr/bin/env bash
# npm run bench: offline-cart against @automerge/automerge-repo 2.5.6 on the same work in one
# headless Chromium run (bench/run.mjs): prints one table with both stacks and the ratios and
# writes bench/results.json. `npm run bench -- --smoke` (or BENCH_SMOKE=1) runs every scenario
# with tiny counts and writes nothing: it checks the bench runs (scripts/test.sh). Measures and
# prints; asserts nothing about time.
#
# Builds what it measures, release only: the module with the wasm-release profile (cargo skips
# it when up to date) as the `--target web` package in bench/pkg with the package entry,
# optimized by wasm-opt as scripts/build.sh does (so the bundle measured is the one shipped),
# then the bench pages (bench/webpack.config.js: webpack production, both stacks alike) into
# bench/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

smoke=()
if [[ "${1:-}" == --smoke || "${BENCH_SMOKE:-}" == 1 ]]; then smoke=(--smoke); fi

step "wasm-pack build --target web (bench/pkg/)" \
  wasm-pack build --profile wasm-release --target web --out-dir bench/pkg --out-name offline_cart --mode no-install
# The package entry (js/) beside the glue, as scripts/build.sh adds it to pkg/: the first-visit
# page starts with Cart.start, which takes the add before the .wasm has arrived.
step "package entry (bench/pkg/)" node scripts/package-entry.mjs bench/pkg
step "wasm-opt (bench/pkg/)" optimize_wasm bench/pkg/offline_cart_bg.wasm
step "webpack (bench/dist/)" npx --no-install webpack --config bench/webpack.config.js --stats errors-warnings
step "bench" node bench/run.mjs "${smoke[@]}"
step_summary
