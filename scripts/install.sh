#!/usr/bin/env bash
# Installs ocid as an operator runs it, and nothing else:
#   <prefix>/usr/local/bin/ocid           the `deno compile`d binary when DENO RT is given in
#                                         DENORT_BIN; otherwise a launcher that execs the pinned
#                                         Deno (copied to <prefix>/usr/local/lib/ocid/deno) on the
#                                         installed source, with its npm packages cached there
#                                         (no npm wrapper process, no download at start)
#   <prefix>/etc/systemd/system/ocid.service   the unit, ExecStart pointing at the binary
#   <prefix>/etc/ocid/ocid.conf           the example configuration, only when absent
# It does not enable or start the unit. Usage: scripts/install.sh [--prefix DIR]
# (DIR defaults to /; a prefix installs the same tree below DIR, for packaging and tests).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
prefix=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install: --prefix needs a directory" >&2; exit 2; }
      prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install: unknown argument \"$1\"; usage: install.sh [--prefix DIR]" >&2; exit 2 ;;
  esac
done
if [ -n "$prefix" ]; then
  mkdir -p "$prefix"
  prefix=$(cd "$prefix" && pwd)
  [ "$prefix" = / ] && prefix=""
fi
bin_dir="$prefix/usr/local/bin"
lib_dir="$prefix/usr/local/lib/ocid"
unit_dir="$prefix/etc/systemd/system"
conf_dir="$prefix/etc/ocid"
deno=$("$top/scripts/deno.sh")

# Build everything in a staging dir first, so a failure leaves nothing half-installed.
stage=$(mktemp -d "${TMPDIR:-/tmp}/ocid-install-XXXXXX")
trap 'rm -rf "$stage"' EXIT
if [ -n "${DENORT_BIN:-}" ]; then
  "$deno" run -A "$top/scripts/compile.ts" --output "$stage/ocid" >&2
  mode=compiled
else
  mkdir -p "$stage/lib"
  cp -r "$top/src" "$top/proto" "$top/deno.json" "$top/deno.lock" "$stage/lib/"
  cp "$deno" "$stage/lib/deno"
  # npm packages go into the installed DENO_DIR now: the service starts without the network.
  DENO_DIR="$stage/lib/deno-dir" "$stage/lib/deno" cache --frozen \
    --config "$stage/lib/deno.json" "$stage/lib/src/main.ts" "$stage/lib/src/metrics/prometheus.ts" >&2
  cat > "$stage/ocid" <<LAUNCHER
#!/bin/sh
# ocid launcher (scripts/install.sh): the pinned Deno on the installed source. exec keeps one
# process, so systemd's main PID is the daemon itself (NotifyAccess=main).
DENO_DIR="$lib_dir/deno-dir" exec "$lib_dir/deno" run -A --cached-only --no-prompt \\
  --no-code-cache --v8-flags=--max-semi-space-size=1 \\
  --config "$lib_dir/deno.json" "$lib_dir/src/main.ts" "\$@"
LAUNCHER
  mode=launcher
fi
sed "s|^ExecStart=/usr/local/bin/ocid |ExecStart=$bin_dir/ocid |" "$top/scripts/ocid.service" \
  > "$stage/ocid.service"

install -d -m 0755 "$bin_dir" "$unit_dir" "$conf_dir"
if [ "$mode" = launcher ]; then
  rm -rf "$lib_dir/src" "$lib_dir/proto" "$lib_dir/deno-dir"
  install -d -m 0755 "$lib_dir"
  cp -r "$stage/lib/src" "$stage/lib/proto" "$stage/lib/deno-dir" "$lib_dir/"
  install -m 0644 "$stage/lib/deno.json" "$stage/lib/deno.lock" "$lib_dir/"
  install -m 0755 "$stage/lib/deno" "$lib_dir/deno"
fi
install -m 0755 "$stage/ocid" "$bin_dir/ocid"
install -m 0644 "$stage/ocid.service" "$unit_dir/ocid.service"
if [ ! -e "$conf_dir/ocid.conf" ]; then
  install -m 0644 "$top/scripts/ocid.conf.example" "$conf_dir/ocid.conf"
  echo "install: wrote $conf_dir/ocid.conf from the example" >&2
else
  echo "install: kept the existing $conf_dir/ocid.conf" >&2
fi
echo "install: ocid ($mode) in $bin_dir/ocid, unit in $unit_dir/ocid.service" >&2
echo "install: next: systemctl daemon-reload && systemctl enable --now ocid" >&2
