#!/usr/bin/env bash
# Runs the baselines and hookhost side by side in one run and prints p50/p99, ratios, and each
# target's verdict (issue 23: hookhost-dispatch -> warm daemon, one-shot sandbox cost, ...).
# Usage: scripts/bench-compare.sh [ITERATIONS]   (default 300)
# HOOKHOST_BEFORE_BIN=/path/to/previous/hookhost adds that build's rows (dispatch, sandbox,
# its thin client when a hookhost-dispatch sits next to it) to the same round-robin run and
# prints before -> after.
# The thin client is measured as installed (README, "Install"): statically linked for
# x86_64-unknown-linux-musl when that target is installed (`rustup target add
# x86_64-unknown-linux-musl`), else the host build, which the output names.
set -euo pipefail
cd "$(dirname "$0")/.."
musl=x86_64-unknown-linux-musl
if [ -z "${HOOKHOST_THIN_BIN:-}" ] && rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
  cargo build --quiet --release -p hookhost-dispatch --target "$musl"
  export HOOKHOST_THIN_BIN="$PWD/target/$musl/release/hookhost-dispatch"
fi
exec cargo bench --bench compare -- "${1:-300}"
