/**
 * `pinned_images` (CRI-O's key): images the kubelet's garbage collection leaves alone, reported
 * as `pinned` by ListImages and ImageStatus (the pause image is pinned whatever the list says).
 * A pattern is matched against an image's tags and digests, as CRI-O matches them: exact (the
 * whole name), glob (`registry.k8s.io/*`: a `*` at the end) or keyword (`*pause*`: a `*` at
 * both ends).
 *
 * @module
 */

/**
 * Whether `pattern` is one `pinned_images` accepts: a name, a name with `*` at the end, or a
 * word with `*` at both ends; no other `*`, no white space.
 */
export function isPinnedPattern(pattern: string): boolean {
  const keyword = pattern.startsWith("*");
  if (keyword && !pattern.endsWith("*")) return false;
  const inner = pattern.slice(keyword ? 1 : 0).replace(/\*$/, "");
  return inner !== "" && !inner.includes("*") && !/\s/.test(pattern);
}

/** Whether any of `names` (an image's tags and digests) matches one of `patterns`. */
export function isPinned(names: readonly string[], patterns: readonly string[]): boolean {
  return patterns.some((p) => names.some((name) => matches(name, p)));
}

function matches(name: string, pattern: string): boolean {
  if (pattern.startsWith("*")) return name.includes(pattern.slice(1, -1));
  if (pattern.endsWith("*")) return name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}
