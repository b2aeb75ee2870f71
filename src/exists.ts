/**
 * One answer to "is something at this path?" for the daemon's modules.
 *
 * @module
 */

/**
 * Whether `path` names an entry, as `lstat(2)` sees it: a symlink counts itself (dangling or
 * not). Any error (missing, or a component not a dir, or not permitted) is "no".
 */
export function exists(path: string): Promise<boolean> {
  return Deno.lstat(path).then(() => true, () => false);
}
