/**
 * Resource limits of containers (`process.rlimits`).
 *
 * By default a container's spec names none, so its processes inherit the daemon's own limits
 * (runc and conmon inherit them from ocid), as containerd's CRI plugin does (it removes the
 * `RLIMIT_NOFILE` 1024 of its default spec, containerd issue #515) and CRI-O does with an empty
 * `default_ulimits`. The systemd unit sets the limits a node's containers get
 * (`scripts/ocid.service`: `LimitNOFILE=1048576`). A fixed 1024 with a hard limit of 1024 would
 * keep every program that raises its soft limit (databases, search engines, proxies) from doing
 * so.
 *
 * `default_ulimits` (CRI-O's key and syntax) sets limits for every container instead:
 * `"nofile=1048576:1048576"` (soft:hard) or `"nproc=4096"` (soft and hard the same), names as in
 * setrlimit(2) without `RLIMIT_`, lower case.
 *
 * @module
 */
import type { Rlimit } from "./types.ts";

/** The names `default_ulimits` accepts, each `RLIMIT_<NAME>` in the OCI spec. */
export const ULIMIT_NAMES: readonly string[] = [
  "as",
  "core",
  "cpu",
  "data",
  "fsize",
  "locks",
  "memlock",
  "msgqueue",
  "nice",
  "nofile",
  "nproc",
  "rss",
  "rtprio",
  "rttime",
  "sigpending",
  "stack",
];

/** A limit's number: a whole number a JSON reader gets back exactly (runc reads a uint64). */
function parseLimit(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Parses one `name=soft[:hard]`.
 *
 * @returns the OCI rlimit, or undefined when the name is unknown, a number is not a whole
 * number up to 2^53 - 1, or soft is above hard.
 */
export function parseUlimit(text: string): Rlimit | undefined {
  const m = /^([a-z]+)=([^:]+)(?::([^:]+))?$/.exec(text.trim());
  if (!m || !ULIMIT_NAMES.includes(m[1]!)) return undefined;
  const soft = parseLimit(m[2]!);
  const hard = m[3] === undefined ? soft : parseLimit(m[3]);
  if (soft === undefined || hard === undefined || soft > hard) return undefined;
  return { type: `RLIMIT_${m[1]!.toUpperCase()}`, soft, hard };
}

/**
 * Parses a `default_ulimits` list.
 *
 * @returns the rlimits in the list's order, or undefined when an entry does not parse or two
 * name the same limit.
 */
export function parseUlimits(list: readonly string[]): Rlimit[] | undefined {
  const out: Rlimit[] = [];
  for (const text of list) {
    const rlimit = parseUlimit(text);
    if (!rlimit || out.some((r) => r.type === rlimit.type)) return undefined;
    out.push(rlimit);
  }
  return out;
}
