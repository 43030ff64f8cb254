#!/usr/bin/env bash
# Fuzzes hookhost's input parsers and the fold for SECONDS (default 60) with the harness in
# examples/fuzz.rs (stable toolchain, release build): prints the executions run and the crashes
# found, saves crashing inputs under $FUZZ_OUT (default target/fuzz)/crashes, and exits 1 if
# any crash was found. FUZZ_JOBS sets the number of worker processes (default: one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
out="${FUZZ_OUT:-target/fuzz}"
cargo build --release --quiet --example fuzz
args=(--seconds "$seconds" --out "$out")
if [ -n "${FUZZ_JOBS:-}" ]; then
  args+=(--jobs "$FUZZ_JOBS")
fi
exec target/release/examples/fuzz "${args[@]}"
