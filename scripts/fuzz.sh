#!/usr/bin/env bash
# `npm run fuzz -- [SECONDS] [TARGET...]`: runs each cargo-fuzz target (all four by default) for
# SECONDS (default 60), one after another, and prints the executions and findings of each.
#
# Needs only the stable toolchain: cargo-fuzz's libFuzzer build uses nightly flags, which
# RUSTC_BOOTSTRAP=1 allows. Installs cargo-fuzz from crates.io when it is missing. New corpus
# units go to a scratch directory, so the committed corpus (fuzz/corpus/) is only read; crashes
# land in fuzz/artifacts/<target>/ — copy each into fuzz/regressions/<target>/ so that
# `cargo test -p cart-fuzz` replays it. Nothing here waits for input.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=60
if [[ ${1:-} =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
if (( ${#targets[@]} == 0 )); then
  targets=(wire_decode server_sync merge_bytes schema_check)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz from crates.io"
  cargo install --locked cargo-fuzz || cargo install cargo-fuzz
fi

export RUSTC_BOOTSTRAP=1
# Sanitizer flags differ from normal builds: a target dir of its own keeps both cached.
target_dir=${FUZZ_TARGET_DIR:-fuzz/target}
# The server target writes a SQLite file per input: keep them in memory when /dev/shm exists.
scratch=$(mktemp -d "$( [[ -w /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}" )/cart-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export TMPDIR=$scratch

# No sanitizer: the code under test is safe Rust (panics, overflow checks and debug assertions
# are on), and without AddressSanitizer each target runs about twice as many inputs.
echo "==> building the fuzz targets"
cargo fuzz build -s none --target-dir "$target_dir"

summary=()
failed=0
for target in "${targets[@]}"; do
  echo "==> fuzzing $target for $seconds s"
  mkdir -p "$scratch/corpus-$target"
  # The whole libFuzzer output stays in fuzz/artifacts/ (ignored by git) for a look afterwards.
  mkdir -p fuzz/artifacts
  log="fuzz/artifacts/$target.log"
  set +e
  cargo fuzz run -s none --target-dir "$target_dir" "$target" \
    "$scratch/corpus-$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    2>&1 | tee "$log" | grep -A1 -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|==[0-9]+== ERROR|SUMMARY|artifact_prefix|thread .* panicked)'
  rc=${PIPESTATUS[0]}
  set -e
  runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  if (( rc == 0 )); then
    summary+=("ok     $target: $runs executions in $seconds s, no crash")
  else
    failed=1
    found=$(grep -oE 'Test unit written to [^ ]+' "$log" | sed 's/Test unit written to //' || true)
    summary+=("FOUND  $target: $runs executions; crash input: ${found:-see the log above}")
  fi
done

echo
echo "---- fuzz summary ----"
printf '%s\n' "${summary[@]}"
exit "$failed"
