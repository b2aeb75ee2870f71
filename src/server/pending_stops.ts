/**
 * The StopContainer calls under way, by container. While one waits for the container to exit
 * on its stop signal, a later StopContainer with a shorter timeout does not queue behind it
 * (the container's lock): it brings the SIGKILL of the running stop forward and waits for the
 * same end. The kubelet sends such a call when a pod's grace period is shortened (a forced
 * delete while it terminates); CRI-O's "ctr stop timeouts should decrease" tests the same.
 *
 * A stop whose caller goes away (the client cancels, or its deadline passes) while it waits on
 * the stop signal is abandoned, as containerd's is: no SIGKILL follows, the container keeps
 * running with the signal it was sent, and the next StopContainer starts over. Unless a later
 * call joined it: that one's SIGKILL still comes.
 *
 * @module
 */

/** One stop under way: when it sends SIGKILL, and its end. */
export class PendingStop {
  #deadline: number;
  #shortened = new AbortController();
  #joined = 0;
  readonly #owner: AbortSignal | undefined;
  readonly #done = Promise.withResolvers<void>();

  /**
   * @param deadline When SIGKILL is sent (ms since the epoch).
   * @param owner The first caller's signal: aborted when that caller goes away.
   */
  constructor(deadline: number, owner?: AbortSignal) {
    this.#deadline = deadline;
    this.#owner = owner;
    this.#done.promise.catch(() => {}); // awaited by later calls, if any
  }

  /** A later call waits for this stop, with its own deadline. */
  join(deadline: number): void {
    this.#joined++;
    this.shorten(deadline);
  }

  /** The first caller went away and no other waits: the stop need not go on. */
  get abandoned(): boolean {
    return (this.#owner?.aborted ?? false) && this.#joined === 0;
  }

  /**
   * Aborted when the deadline comes forward, or when the stop is {@linkcode abandoned}: wait
   * again, or give up.
   */
  get changed(): AbortSignal {
    const owner = this.#owner;
    return owner && !owner.aborted && this.#joined === 0
      ? AbortSignal.any([this.#shortened.signal, owner])
      : this.#shortened.signal;
  }

  /** When the stop gives up on the stop signal (ms since the epoch). */
  get deadline(): number {
    return this.#deadline;
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
  async run(
    id: string,
    deadline: number,
    stop: (p: PendingStop) => Promise<void>,
    owner?: AbortSignal,
  ): Promise<void> {
    const pending = new PendingStop(deadline, owner);
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
