/**
 * Shape checks of parsed JSON, one copy for the daemon's readers of files (CNI results and
 * configs, CDI specs, OCI hook files, store records, the configuration's lists).
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
