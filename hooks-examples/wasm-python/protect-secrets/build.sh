#!/usr/bin/env bash
# Builds this hook's component with componentize-py 0.25.1 and prints the component's path as the
# last line. componentize-py is installed on first use from PyPI into a venv under
# ${HOOKHOST_TOOLCHAINS:-~/.cache/hookhost/toolchains}. Everything else goes to stderr.
set -euo pipefail
cd "$(dirname "$0")"
NAME=protect_secrets_py
WIT=../../../wit          # the world, hookhost:hook@0.2.0
SDK=../../../sdk/python   # the hookhost_guest package
TOOLS=${HOOKHOST_TOOLCHAINS:-${XDG_CACHE_HOME:-$HOME/.cache}/hookhost/toolchains}/componentize-py-0.25.1
if ! "$TOOLS/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py 0.25.1"; then
  echo "installing componentize-py 0.25.1 into $TOOLS" >&2
  python3 -m venv "$TOOLS" >&2
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check componentize-py==0.25.1 >&2
fi
mkdir -p build
"$TOOLS/bin/componentize-py" -d "$WIT" -w hook componentize app -p . -p "$SDK" -o "build/$NAME.wasm" >&2
echo "$PWD/build/$NAME.wasm"
