#!/usr/bin/env bash
# Builds the Rust test guests for wasm32-wasip2 and prints their directory as the last line.
set -euo pipefail
cd "$(dirname "$0")"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2 >&2
fi
cargo build --release --target wasm32-wasip2 >&2
echo "${CARGO_TARGET_DIR:-$PWD/target}/wasm32-wasip2/release"
