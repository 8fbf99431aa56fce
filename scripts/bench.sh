#!/usr/bin/env bash
# npm run bench: prints what flush()'s strict IndexedDB durability costs, in headless Chromium
# and Firefox ESR (tests/browser_bench.rs). Measures and prints; asserts nothing about time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
for browser in chrome firefox; do
  echo "==> $browser"
  if [[ $browser == chrome ]]; then driver=(--chrome --chromedriver /usr/bin/chromedriver)
  else driver=(--firefox --geckodriver "$(command -v geckodriver)"); fi
  wasm-pack test --headless "${driver[@]}" --mode no-install -- --test browser_bench -- \
    --include-ignored --nocapture 2>&1 | grep '^bench:'
done
