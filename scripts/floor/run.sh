#!/usr/bin/env bash
# Runs the floor alone: the pod lifecycle with runc and the CNI plugins, no daemon
# (bridge ocidbf0, 10.234.10.0/24). Extra arguments go to bench/main.ts (e.g. --quick).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
exec "${DENO:-deno}" run -A bench/main.ts --targets floor "$@"
