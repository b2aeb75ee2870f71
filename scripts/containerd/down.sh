#!/usr/bin/env bash
# Removes what a crashed containerd peer left behind: the containerd and shim processes of
# /tmp/ocid-bench-containerd-* instances (matched by that path, never by name alone), their
# mounts, dirs and the ocidbc0 bridge. Safe to run when nothing is left.
set -uo pipefail
for dir in /tmp/ocid-bench-containerd-*; do
  [ -d "$dir" ] || continue
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$dir/"; then
      pid=${p#/proc/}
      [ "$pid" = "$$" ] || kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  grep -F " $dir/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dir"
  echo "removed $dir"
done
ip link del ocidbc0 2>/dev/null || true
