/**
 * Bounded fan-out: runs a task per item with at most a given number running at once, where an
 * unbounded `Promise.all` over a pod's containers would start a process per container at the
 * same moment (StopPodSandbox of a pod with 300 running containers: 300 `runc kill` at once).
 *
 * @module
 */

/**
 * Runs `task` for every item, at most `limit` at a time, in the items' order; every task runs
 * to its end even when one fails.
 *
 * @param items What to run the task for.
 * @param limit The most tasks running at once (at least 1).
 * @param task The work for one item.
 * @throws The first failure (in the items' order), once every task has ended.
 * @example
 * ```ts
 * await forEachLimited(containers, 8, (c) => stop(c));
 * ```
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const results: PromiseSettledResult<void>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { status: "fulfilled", value: await task(items[i]!) };
      } catch (reason) {
        results[i] = { status: "rejected", reason };
      }
    }
  };
  const workers = Math.max(1, Math.min(Math.floor(limit), items.length));
  await Promise.all(Array.from({ length: workers }, worker));
  const failed = results.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
