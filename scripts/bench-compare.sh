#!/usr/bin/env bash
# Runs the baselines and hookhost side by side in one run and prints p50/p99 and ratios.
# Usage: scripts/bench-compare.sh [ITERATIONS]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench compare -- "${1:-300}"
