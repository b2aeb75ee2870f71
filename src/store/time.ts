/**
 * Timestamps as CRI wants them: nanoseconds since the Unix epoch, kept as decimal strings
 * (they exceed 2^53, and JSON has no bigint).
 *
 * @module
 */

/** Nanoseconds since the epoch of a Date (millisecond precision). */
export function dateToNanos(date: Date): string {
  return (BigInt(date.getTime()) * 1_000_000n).toString();
}

/** Nanoseconds since the epoch, now (microsecond precision where the clock allows). */
export function nowNanos(): string {
  const micros = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  return (micros * 1000n).toString();
}
