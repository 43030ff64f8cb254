#!/usr/bin/env bash
# Runs the baselines and hookhost side by side in one run and prints p50/p99, ratios, and each
# target's verdict (issue 23: hookhost-dispatch -> warm daemon, one-shot sandbox cost, ...).
# Usage: scripts/bench-compare.sh [ITERATIONS]   (default 300)
# HOOKHOST_BEFORE_BIN=/path/to/previous/hookhost adds that build's rows (dispatch, sandbox,
# its thin client) to the same round-robin run and prints before -> after.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench compare -- "${1:-300}"
