#!/usr/bin/env bash
# Every check, quickest feedback first, stopping at the first failure with a summary of the
# steps and their durations. CI runs this through .ci/run; nothing here waits for input.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PATH="$HOME/.cargo/bin:$PATH"

step "setup" bash scripts/setup.sh
step "cargo fmt" cargo fmt --all --check
step "clippy (native)" cargo clippy --workspace --all-targets -- -D warnings
step "clippy (wasm32)" cargo clippy -p offline-cart --target wasm32-unknown-unknown --all-targets -- -D warnings
# The API docs build without a broken or private link (rustdoc's warnings are errors here).
step "rustdoc" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
# The store suites run against a real PostgreSQL too: postgres.mjs starts a throwaway
# PostgreSQL 15 cluster and sets TEST_DATABASE_URL (tests/store_postgres.rs fails without it).
step "cargo test" node scripts/postgres.mjs cargo test --workspace
# A short fault run on real processes: two debug cart-server instances on a throwaway
# PostgreSQL, cart-load's shoppers over both, one instance killed with kill -9 mid-run; passes
# when cart-load exits 0 (nothing acknowledged lost) with changes acknowledged before and after.
step "load fault run (kill -9)" node --test tests/load/
# The root crate's wasm-bindgen tests in headless Chromium, with Debian's chromedriver and the
# installed wasm-bindgen-test-runner (`--mode no-install`): no driver or runner is downloaded.
# The runner adds --headless --no-sandbox (needed as root); webdriver.json adds the flags that
# keep Chromium off the network. A real cart-server runs beside them: with-server.mjs sets
# CART_SERVER_WS for tests/browser_sync.rs.
step "browser tests (Chromium)" node scripts/with-server.mjs \
  wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver --mode no-install
# The same tests in headless Firefox ESR (Debian's firefox-esr) with geckodriver from crates.io.
# webdriver.json's moz:firefoxOptions names the binary, keeps Firefox off the network and gives
# the test profile a 10 MB per-origin quota so that tests/browser_quota.rs can fill IndexedDB.
step "browser tests (Firefox)" node scripts/with-server.mjs \
  wasm-pack test --headless --firefox --geckodriver "$(command -v geckodriver)" --mode no-install
# The end-to-end tests drive the built demo, so the build comes first.
step "build" bash scripts/build.sh
# npm run bench with tiny counts: checks that both stacks still build and every row of the
# side-by-side table fills (asserts nothing about time; the real figures come from npm run bench).
step "bench (smoke run)" bash scripts/bench.sh --smoke
step "node tests" node --test tests/node/
# The package's examples, each loading pkg/ by name as an installed copy (the build links
# examples/node_modules/offline-cart): a Node script with memory carts and the Vue and Svelte
# bindings' unit tests, the same package under Vitest, then a Vite 8 app (vite-plugin-wasm) and a page without a bundler
# (offline-cart/web), each adding an item in Chromium, and a React, a Vue and a Svelte app
# (Vite 8 with each framework's plugin), each showing an add merged from another device
# through offline-cart/react, /vue or /svelte.
step "example: Node" node --test examples/node/
step "example: Vitest" npx --no-install vitest run --root examples/vitest
step "example: Vite build" npx --no-install vite build examples/vite --logLevel warn
step "example: React build" npx --no-install vite build examples/react --logLevel warn
step "example: Vue build" npx --no-install vite build examples/vue --logLevel warn
step "example: Svelte build" npx --no-install vite build examples/svelte --logLevel warn
step "examples in Chromium" node --test tests/examples/
# The built storefront end to end: in Debian's Chromium through playwright-core, then in
# headless Firefox through geckodriver and selenium-webdriver.
step "Chromium end-to-end" node --test tests/e2e/
step "Firefox end-to-end" node --test tests/firefox/
step_summary
