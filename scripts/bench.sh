#!/usr/bin/env bash
# npm run bench: offline-cart against @automerge/automerge-repo 2.5.6 on the same work in one
# headless Chromium run (bench/run.mjs): prints one table with both stacks and the ratios and
# writes bench/results.json. `npm run bench -- --smoke` (or BENCH_SMOKE=1) runs every scenario
# with tiny counts and writes nothing: it checks the bench runs (scripts/test.sh). Measures and
# prints; asserts nothing about time.
#
# Builds what it measures, release only: the npm package in pkg/ as scripts/build.sh builds it
# (scripts/package.sh; cargo skips the module when up to date), whose web entry (pkg/web.js, the
# `--target web` build) the bench pages load, so the bundle measured is the one shipped; then
# the bench pages (bench/webpack.config.js: webpack production, both stacks alike) into
# bench/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

smoke=()
if [[ "${1:-}" == --smoke || "${BENCH_SMOKE:-}" == 1 ]]; then smoke=(--smoke); fi

step "npm package (pkg/)" bash scripts/package.sh
step "webpack (bench/dist/)" npx --no-install webpack --config bench/webpack.config.js --stats errors-warnings
step "bench" node bench/run.mjs "${smoke[@]}"
step_summary
