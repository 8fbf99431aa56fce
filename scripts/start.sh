#!/usr/bin/env bash
# Installs what is missing, builds the package and the storefront, then runs cart-server as the
# demo shop (seeded catalog, name-only sign-in) with
# its embedded SQLite store (./data/carts.sqlite3): the storefront at / and the sync endpoint
# at /sync on http://localhost:${PORT:-8080}/, until stopped with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash scripts/setup.sh
bash scripts/build.sh
# The debug build is the one the tests use, so the server is compiled once for both.
cargo build -p cart-server --bin cart-server
exec "${CARGO_TARGET_DIR:-target}/debug/cart-server" --static-dir dist --demo
