/**
 * {@linkcode settleAll}: wait for every branch of a fan-out, then fail with the first failure.
 *
 * @module
 */

/**
 * Waits until every promise has settled, then throws the first rejection in the promises' order,
 * or returns their values. Unlike `Promise.all`, nothing is still running when it throws: the
 * caller's undo steps (or its retry) meet no half-done work.
 *
 * @param promises The branches, in the order their failures rank.
 * @returns The values, in the same order.
 * @throws The reason of the first rejected promise in the order given.
 * @example
 * ```ts
 * const [released, tornDown] = await settleAll([release(), tearDown()]);
 * ```
 */
export async function settleAll<T extends readonly unknown[] | []>(
  promises: T,
): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  const values: unknown[] = [];
  for (const r of results) {
    if (r.status === "rejected") throw r.reason;
    values.push(r.value);
  }
  return values as { -readonly [K in keyof T]: Awaited<T[K]> };
}
