#!/usr/bin/env bash
# Builds this hook's component with componentize-js 0.23.0 and prints the component's path as the
# last line. componentize-js (with jco 1.35.0) is installed on first use from npm into
# ${HOOKHOST_TOOLCHAINS:-~/.cache/hookhost/toolchains}, unless ./node_modules has it (npm install
# here). Everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"
NAME=block_dangerous_bash_js
ROOT=../../..   # componentize-js resolves imports inside the directory it runs in: the repository
HERE=hooks-examples/wasm-js/block-dangerous-bash
TOOLS=${HOOKHOST_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/hookhost/toolchains}/componentize-js-0.23.0
CJS=$PWD/node_modules/.bin/componentize-js
if ! [ -x "$CJS" ]; then
  CJS=$TOOLS/node_modules/.bin/componentize-js
  if [ "$("$CJS" --version 2>/dev/null)" != "0.23.0" ]; then
    echo "installing componentize-js 0.23.0 and jco 1.35.0 into $TOOLS" >&2
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
      @bytecodealliance/componentize-js@0.23.0 @bytecodealliance/jco@1.35.0 >&2
  fi
fi
mkdir -p build
# -d http -d fetch-event: no wasi:http imports (hookhost grants none and refuses them at load).
(cd "$ROOT" && "$CJS" "$HERE/app.js" --wit wit -n hook -d http -d fetch-event -o "$HERE/build/$NAME.wasm") >&2
echo "$PWD/build/$NAME.wasm"
