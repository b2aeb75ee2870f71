#!/usr/bin/env bash
# Installs what the tests need, checks types, lint and formatting (a lint error once reached main
# unnoticed), and runs the whole test suite (unit and integration, as root).
# Ends with a plain "N passed, N failed" line taken from deno test's summary.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
deno=$("$top/scripts/setup.sh" --test)
cd "$top"
export PATH="$(dirname "$deno"):$PATH"
"$deno" task check
"$deno" lint
"$deno" fmt --check
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
"$deno" task test "$@" 2>&1 | tee "$out" || status=$?
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1 || true)
if [ -n "$summary" ]; then
  passed=$(echo "$summary" | sed -E 's/.* ([0-9]+) passed.*/\1/')
  failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed.*/\1/')
  echo "$passed passed, $failed failed"
fi
exit "$status"
