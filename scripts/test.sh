#!/usr/bin/env bash
# Installs what the tests need and runs the whole test suite (unit and integration, as root).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
deno=$("$top/scripts/setup.sh" --test)
cd "$top"
export PATH="$(dirname "$deno"):$PATH"
"$deno" task check
"$deno" task test "$@"
