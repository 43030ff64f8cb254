#!/usr/bin/env bash
# Builds this hook's component with cargo for wasm32-wasip2 (the target is added with rustup when
# missing) and prints the component's path as the last line. Everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."   # the examples' cargo workspace
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2 >&2
fi
cargo build --release --target wasm32-wasip2 -p block-dangerous-bash >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/wasm32-wasip2/release/block_dangerous_bash.wasm"
