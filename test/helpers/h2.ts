/**
 * HTTP/2 building blocks for tests that write raw client bytes: a frame header (RFC 9113
 * section 4.1) and an HPACK integer (RFC 7541 section 5.1). The `:authority` rewriter's unit
 * test and the raw abuse test against the daemon build their frames with these, independently
 * of the rewriter's own encoder.
 *
 * @module
 */

/**
 * The 9 bytes of a frame header.
 *
 * @param length The payload's length (below 2^24).
 * @param type The frame type.
 * @param flags The flags byte.
 * @param stream The stream id (the reserved bit is left clear).
 */
export function frameHeader(length: number, type: number, flags: number, stream: number): number[] {
  return [
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
    type,
    flags,
    (stream >>> 24) & 0x7f,
    (stream >>> 16) & 0xff,
    (stream >>> 8) & 0xff,
    stream & 0xff,
  ];
}

/**
 * An HPACK integer with an N-bit prefix.
 *
 * @param high The bits above the prefix in the first byte (the representation's pattern).
 * @param bits The prefix's width.
 * @param value The integer.
 */
export function hpackInt(high: number, bits: number, value: number): number[] {
  const max = (1 << bits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}
