#!/usr/bin/env bash
# Builds the probe with componentize-py 0.25.1 (as hooks-examples/wasm-python/*/build.sh does) and
# prints the component's path as the last line.
set -euo pipefail
cd "$(dirname "$0")"
TOOLS=${HOOKHOST_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/hookhost/toolchains}/componentize-py-0.25.1
if ! "$TOOLS/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py 0.25.1"; then
  python3 -m venv "$TOOLS" >&2
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check componentize-py==0.25.1 >&2
fi
mkdir -p build
"$TOOLS/bin/componentize-py" -d ../../../wit -w hook componentize app -p . -p ../../../sdk/python -o build/python_capabilities.wasm >&2
echo "$PWD/build/python_capabilities.wasm"
