#!/usr/bin/env bash
# Brings up the containerd peer (Debian containerd 1.6, CRI plugin) with a bench registry on
# 127.0.0.1, its own socket/root/state under /tmp/ocid-bench-containerd-*, CNI bridge ocidbc0
# on 10.234.8.0/24. Runs in the foreground; prints CONTAINERD_ENDPOINT=unix://...; Ctrl-C
# tears everything down. scripts/containerd/down.sh cleans up after a crash.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
exec "${DENO:-deno}" run -A bench/peers/containerd.ts "$@"
