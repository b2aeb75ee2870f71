/**
 * Work done once for a key however many callers ask for it at once: a blob's download, a
 * layer's unpacking, shared by concurrent pulls.
 *
 * @module
 */

/**
 * Runs `work` for `key`, or waits for the work under way for it in `inFlight`. Should the work
 * waited on fail (the pull that began it was cancelled, or its registry or credentials failed
 * it), this caller runs its own `work`, unless its own `signal` has aborted.
 *
 * @param inFlight The work under way, by key; shared by every caller.
 * @param options.onJoinedFailure Told of a failure of the work waited on, before this caller
 *   runs its own.
 * @returns What the work gave.
 */
export async function sharedWork<T>(
  inFlight: Map<string, Promise<T>>,
  key: string,
  work: () => Promise<T>,
  options: { signal?: AbortSignal | undefined; onJoinedFailure?: (err: unknown) => void } = {},
): Promise<T> {
  let joined: Promise<T> | undefined;
  for (let running; (running = inFlight.get(key)) && running !== joined;) {
    joined = running;
    try {
      return await running;
    } catch (err) {
      if (options.signal?.aborted) throw err;
      options.onJoinedFailure?.(err);
    }
  }
  const p = work();
  inFlight.set(key, p);
  try {
    return await p;
  } finally {
    if (inFlight.get(key) === p) inFlight.delete(key);
  }
}
