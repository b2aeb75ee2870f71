/**
 * Time in the CRI's unit: nanoseconds since the epoch, as a decimal string (int64 does not fit a
 * JavaScript number).
 *
 * @module
 */

const origin = BigInt(Math.round(performance.timeOrigin * 1e6));

/** Now, in nanoseconds since the epoch, as a string. */
export function nowNs(): string {
  return (origin + BigInt(Math.round(performance.now() * 1e6))).toString();
}

/** A Date in nanoseconds since the epoch, as a string. */
export function dateNs(date: Date): string {
  return (BigInt(date.getTime()) * 1_000_000n).toString();
}

/**
 * `t`, or `floor` when `t` is earlier (both ns strings; "0" is no time and is left as it is).
 * An exit file's mtime (the finish time) comes from the kernel's coarse clock, which lags by up
 * to a tick (4 ms at HZ=250): a process that exits within a few milliseconds of its start would
 * otherwise finish before it started.
 */
export function notBeforeNs(t: string, floor: string): string {
  if (t === "0" || floor === "0") return t;
  return BigInt(t) < BigInt(floor) ? floor : t;
}
