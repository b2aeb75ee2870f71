/**
 * The StopContainer calls under way, by container. While one waits for the container to exit
 * on its stop signal, a later StopContainer with a shorter timeout does not queue behind it
 * (the container's lock): it brings the SIGKILL of the running stop forward and waits for the
 * same end. The kubelet sends such a call when a pod's grace period is shortened (a forced
 * delete while it terminates); CRI-O's "ctr stop timeouts should decrease" tests the same.
 *
 * @module
 */

/** One stop under way: when it sends SIGKILL, and its end. */
export class PendingStop {
  #deadline: number;
  #shortened = new AbortController();
  readonly #done = Promise.withResolvers<void>();

  constructor(deadline: number) {
    this.#deadline = deadline;
    this.#done.promise.catch(() => {}); // awaited by later calls, if any
  }

  /** When the stop gives up on the stop signal (ms since the epoch). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Aborted when the deadline is brought forward; wait again with the new one. */
  get shortened(): AbortSignal {
    return this.#shortened.signal;
  }

  /** Brings the deadline forward to `deadline` if it is earlier; a later one changes nothing. */
  shorten(deadline: number): void {
    if (deadline >= this.#deadline) return;
    this.#deadline = deadline;
    const previous = this.#shortened;
    this.#shortened = new AbortController();
    previous.abort();
  }

  /** Settles when the stop has ended, with its error if it failed. */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** Ends the stop; `err` is handed to the calls that waited on it. */
  end(err?: unknown): void {
    if (err === undefined) this.#done.resolve();
    else this.#done.reject(err);
  }
}

/** The stops under way, by container ID. */
export class PendingStops {
  readonly #byId = new Map<string, PendingStop>();

  /** The stop of `id` under way, if any. */
  get(id: string): PendingStop | undefined {
    return this.#byId.get(id);
  }

  /**
   * Runs `stop` as the stop of `id` with the given deadline; calls made meanwhile find it with
   * {@linkcode PendingStops.get}.
   */
  async run(id: string, deadline: number, stop: (p: PendingStop) => Promise<void>): Promise<void> {
    const pending = new PendingStop(deadline);
    this.#byId.set(id, pending);
    try {
      await stop(pending);
      pending.end();
    } catch (err) {
      pending.end(err);
      throw err;
    } finally {
      this.#byId.delete(id);
    }
  }
}
