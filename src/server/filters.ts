/**
 * Filter helpers shared by the List RPCs.
 *
 * @module
 */

/** The labels (or annotations) of an entry whose config has none; frozen, shared. */
export const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

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
