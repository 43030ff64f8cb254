#!/usr/bin/env bash
# Builds the probe with componentize-js 0.23.0 (as hooks-examples/wasm-js/*/build.sh does) and
# prints the component's path as the last line.
set -euo pipefail
cd "$(dirname "$0")"
TOOLS=${HOOKHOST_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/hookhost/toolchains}/componentize-js-0.23.0
CJS=$TOOLS/node_modules/.bin/componentize-js
if [ "$("$CJS" --version 2>/dev/null)" != "0.23.0" ]; then
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
    @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0 >&2
fi
mkdir -p build
HERE=tests/guests/js-capabilities
(cd ../../.. && "$CJS" "$HERE/app.js" --wit wit -n hook -d http -d fetch-event -o "$HERE/build/js_capabilities.wasm") >&2
echo "$PWD/build/js_capabilities.wasm"
