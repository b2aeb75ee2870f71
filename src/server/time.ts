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
