/**
 * Shape checks of parsed JSON, one copy for the daemon's readers of files (CNI results and
 * configs, CDI specs, OCI hook files, store records, the configuration's lists, signature
 * policies, registry credentials).
 *
 * @module
 */

/** Whether `v` is a JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether `v` is an array of strings. */
export function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/**
 * `text` parsed as a JSON object.
 *
 * @param fail Makes the error to throw from what is wrong: `not JSON (<parser's message>)` or
 *   `expected an object`.
 */
export function parseJsonObject(
  text: string,
  fail: (why: string) => Error,
): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fail(`not JSON (${(err as Error).message})`);
  }
  if (!isObject(json)) throw fail("expected an object");
  return json;
}
