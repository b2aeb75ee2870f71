/**
 * The one test of a TCP/UDP port number, for the CRI's port mappings and port-forwards, image
 * references' registry ports, the streaming server's URLs and streams, and the configuration.
 *
 * @module
 */

/** The largest port number. */
export const MAX_PORT = 65_535;

/**
 * Whether `n` is a port number: a whole number from `min` to 65535.
 *
 * @param n The number.
 * @param min 1, or 0 where 0 means "none" (a pod's host port) or "any" (a listener).
 *   @default 1
 */
export function isPort(n: number, min: 0 | 1 = 1): boolean {
  return Number.isInteger(n) && n >= min && n <= MAX_PORT;
}
