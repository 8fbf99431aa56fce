# shellcheck shell=bash
# Shared by the scripts in this folder (sourced, not run): a `step` helper that times each
# step, keeps a list of results and, on the first failure, prints that list and exits.

STEP_RESULTS=()
STEP_PASSED=0
STEP_FAILED=0

# seconds_since START: elapsed time since START (an $EPOCHREALTIME), as "12.3 s".
seconds_since() {
  local us=$(( ${EPOCHREALTIME/./} - ${1/./} ))
  printf '%d.%d s' $(( us / 1000000 )) $(( us % 1000000 / 100000 ))
}

# step NAME CMD...: runs CMD with errexit on (in a subshell, so `set -e` still holds inside
# shell functions, which `if CMD` would silently switch off), records NAME with its duration,
# and stops the whole script at the first failure.
step() {
  local name=$1 start=$EPOCHREALTIME rc
  shift
  echo "==> $name"
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  if (( rc != 0 )); then
    STEP_RESULTS+=("FAIL  $(seconds_since "$start")  $name (exit $rc)")
    STEP_FAILED=1
    step_summary
    exit "$rc"
  fi
  STEP_RESULTS+=("ok    $(seconds_since "$start")  $name")
  STEP_PASSED=$(( STEP_PASSED + 1 ))
}

# step_summary: one line per step so far, then a closing count.
step_summary() {
  echo
  echo "---- ${0##*/} summary ----"
  printf '%s\n' "${STEP_RESULTS[@]}"
  echo "steps: $STEP_PASSED passed, $STEP_FAILED failed"
}

# optimize_wasm FILE: rewrites the wasm-bindgen output FILE with binaryen's wasm-opt -O1, from
# the npm package `binaryen` (132, runs on Node, nothing downloaded; wasm-pack's own wasm-opt
# step is off in Cargo.toml because it downloads). -O1, not -Oz: on 2026-12-03's module -O1
# took the .wasm from 543,472 to 537,615 B gzip -9 (412,057 -> 410,519 B brotli), while -Oz,
# -Os and -O2 shrank the raw module but grew the gzip (603,951 B with -Oz), as Debian's 108 did.
# The features are those rustc emits for wasm32-unknown-unknown; the release profile strips the
# target_features section that would otherwise tell wasm-opt.
optimize_wasm() {
  npx --no-install wasm-opt -O1 \
    --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$1" -o "$1"
}
