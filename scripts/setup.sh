#!/usr/bin/env bash
# Installs what ocid and its tests need on a Debian machine with Node.js, as root:
# the runtime parts (runc, crun, conmon, CNI plugins, catatonit, zstd to unpack zstd layers),
# the test parts (busybox-static, docker-registry, skopeo, umoci, containerd for the benchmark
# peer, Go gRPC for the Go client test, spdystream and gorilla/websocket for the Go stream
# clients, systemd for `systemd-analyze verify` of the unit) and the pinned Deno
# (from the npm registry). Idempotent; prints the Deno binary path.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
pkgs=(runc crun conmon containernetworking-plugins catatonit iproute2 util-linux mount attr kmod zstd)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(busybox-static docker-registry skopeo umoci containerd golang-go golang-google-grpc-dev golang-github-docker-spdystream-dev golang-github-gorilla-websocket-dev apache2-utils systemd)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
fi
"$top/scripts/deno.sh"
