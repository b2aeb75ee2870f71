/**
 * Filter helpers shared by the List RPCs.
 *
 * @module
 */

/** Whether `labels` has every key/value of `selector` (an empty or missing selector matches). */
export function matchesLabels(
  labels: Record<string, string>,
  selector: Record<string, string> | null | undefined,
): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) {
    if (labels[k] !== v) return false;
  }
  return true;
}
