/**
 * Reading int64 fields: proto-loader decodes them as decimal strings.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/**
 * Parses a decoded int64 as a safe integer.
 *
 * @param value A decimal string (or a number, from hand-built requests).
 * @param field The request field, named in the error.
 * @throws {InvalidArgumentError} When it is not an integer or not exactly representable.
 */
export function int64(value: string | number, field: string): number {
  const n = typeof value === "number" ? value : /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`Invalid integer ${JSON.stringify(value)} in ${field}`);
  }
  return n;
}
