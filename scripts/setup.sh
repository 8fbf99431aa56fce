#!/usr/bin/env bash
# Installs what building and testing offline-cart needs on Debian 12 with Rust (rustup) and
# Node 20. Every step checks first and installs only what is missing, so a second run takes
# seconds. Only package registries are used (Debian apt, crates.io, npm): nothing is downloaded
# from anywhere else, which is also why wasm-pack is later run with `--mode no-install`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# Debian packages: headless Chromium and its WebDriver, and Firefox ESR, for the browser tests.
# Add new system packages here. (Firefox's WebDriver, geckodriver, is not packaged in Debian 12:
# it comes from crates.io below.)
APT_PACKAGES=(chromium chromium-driver firefox-esr)
WASM_PACK_VERSION=0.15.1
GECKODRIVER_VERSION=0.37.1
export PATH="$HOME/.cargo/bin:$PATH"

apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if (( ${#missing[@]} == 0 )); then
    echo "present: ${APT_PACKAGES[*]}"
    return
  fi
  echo "installing: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

# PostgreSQL 15's server binaries, for the PostgresStore tests (scripts/postgres.mjs runs a
# throwaway cluster from them). Debian 12's `postgresql` package is version 15; the machine
# image may carry the binaries without the package, so the directory is what is checked. (The
# package also starts Debian's own cluster on port 5432; the tests do not use it.)
PG_BIN=/usr/lib/postgresql/15/bin
postgres_binaries() {
  if [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]]; then
    echo "present: PostgreSQL 15 in $PG_BIN"
    return
  fi
  echo "installing: postgresql (Debian)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
}

rust_parts() {
  # fmt and clippy are in rustup's default profile, but a minimal toolchain lacks them.
  local component
  for component in rustfmt clippy; do
    if rustup component list --installed | grep -q "^$component-"; then
      echo "present: $component"
    else
      echo "installing: rustup component $component"
      rustup component add "$component"
    fi
  done
  if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    echo "present: wasm32-unknown-unknown"
  else
    echo "installing: rustup target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

# cargo_tool CRATE VERSION BINARY: makes the first line of `BINARY --version` read
# "BINARY VERSION" (geckodriver prints more lines after it), installing CRATE from
# crates.io if needed. `--locked` first, for the versions the tool was released with; a shipped
# lockfile can name a crate version the registry no longer serves, so fall back to a fresh
# resolution rather than fail.
cargo_tool() {
  local crate=$1 version=$2 binary=$3
  if [[ "$("$binary" --version 2>/dev/null | sed -n 1p)" == "$binary $version" ]]; then
    echo "present: $binary $version"
    return
  fi
  echo "installing: $crate $version (cargo install, takes minutes)"
  cargo install "$crate" --version "$version" --locked \
    || cargo install "$crate" --version "$version"
  local installed
  installed=$("$binary" --version | sed -n 1p)
  if [[ "$installed" != "$binary $version" ]]; then
    echo "expected $binary $version on PATH, found: $installed ($(command -v "$binary"))" >&2
    return 1
  fi
}

# wasm-bindgen's CLI must be exactly the version of the `wasm-bindgen` crate the project is
# built with, or the generated glue does not match the module.
wasm_bindgen_cli() {
  local version
  version=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
  if [[ -z "$version" ]]; then
    echo "Cargo.lock has no wasm-bindgen package: the root crate must depend on wasm-bindgen" >&2
    return 1
  fi
  cargo_tool wasm-bindgen-cli "$version" wasm-bindgen
}

# npm install is the slow part of a warm run, so it is skipped while package.json and
# package-lock.json are unchanged since the last install (a stamp inside node_modules, so that
# deleting node_modules also forces a reinstall). `npm ci` is not used: npm 11 can reject
# lockfiles that lack optional per-platform packages; `npm install` follows the lockfile too.
npm_packages() {
  local stamp=node_modules/.offline-cart-install-stamp
  if [[ -f "$stamp" ]] && [[ "$(cat package.json package-lock.json | sha256sum)" == "$(cat "$stamp")" ]]; then
    echo "present: node_modules matches package.json and package-lock.json"
    return
  fi
  echo "installing: npm packages"
  npm install --no-audit --no-fund
  cat package.json package-lock.json | sha256sum > "$stamp"
}

step "apt packages" apt_packages
step "PostgreSQL 15" postgres_binaries
step "rust components and wasm target" rust_parts
step "wasm-bindgen-cli" wasm_bindgen_cli
step "wasm-pack" cargo_tool wasm-pack "$WASM_PACK_VERSION" wasm-pack
step "geckodriver" cargo_tool geckodriver "$GECKODRIVER_VERSION" geckodriver
step "npm packages" npm_packages
step_summary
