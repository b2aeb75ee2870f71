#!/usr/bin/env bash
# Prints the path of the pinned Deno binary, installing it from the npm registry when missing.
# The npm package's .bin/deno is a Node wrapper; we use the real binary it ships.
set -euo pipefail
DENO_VERSION=2.9.6
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/.deno/node_modules/@deno/linux-x64-glibc/deno"
if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null | head -1 | cut -d' ' -f2)" != "$DENO_VERSION" ]; then
  npm install --no-save --no-audit --no-fund --prefix "$top/.deno" "deno@$DENO_VERSION" >&2
fi
echo "$bin"
