#!/usr/bin/env bash
# Installs what is missing and runs the ocid daemon on its embedded default configuration.
# Installs the example CNI conflist only where /etc/cni/net.d is empty (the cluster's CNI owns it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
deno=$("$top/scripts/setup.sh")
mkdir -p /etc/cni/net.d
if [ -z "$(ls -A /etc/cni/net.d)" ]; then
  install -m 0644 "$top/scripts/cni/10-ocid-bridge.conflist" /etc/cni/net.d/
fi
cd "$top"
# Deno and V8 flags: src/v8_flags.ts (no code cache, a smaller young generation: lower idle RSS).
exec "$deno" run -A --no-code-cache --v8-flags=--max-semi-space-size=1 src/main.ts "$@"
