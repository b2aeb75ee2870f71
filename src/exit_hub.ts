/**
 * Fans out exit events (from conmon's exit files) to whoever waits for one process, and to the
 * listeners that keep the stores' status current. No process is spawned to learn a state.
 *
 * @module
 */

/** A process's end, as conmon recorded it. */
export interface ExitEvent {
  exitCode: number;
  finishedAt: Date;
  /**
   * Set when no exit status exists (the process was gone when ocid started): the container's
   * status then says `Unknown` with this message, as containerd's does, not `Error`.
   */
  unknown?: string;
}

/** Where exit events arrive and can be awaited. */
export class ExitHub {
  #waiters = new Map<string, Set<(e: ExitEvent) => void>>();
  #seen = new Map<string, ExitEvent>();
  #listeners: ((id: string, e: ExitEvent) => void | Promise<void>)[] = [];
  #pending = new Set<Promise<void>>();
  #forgetListeners: ((id: string) => void)[] = [];

  /** Registers a listener called for every exit (store updates). */
  onExit(listener: (id: string, e: ExitEvent) => void | Promise<void>): void {
    this.#listeners.push(listener);
  }

  /** Delivers an exit event; called by the exit-dir watcher. */
  deliver(id: string, event: ExitEvent): void {
    this.#seen.set(id, event);
    for (const listener of this.#listeners) {
      const p = Promise.resolve(listener(id, event)).catch(() => {}).finally(() =>
        this.#pending.delete(p)
      );
      this.#pending.add(p);
    }
    const waiters = this.#waiters.get(id);
    if (waiters) {
      this.#waiters.delete(id);
      for (const w of waiters) w(event);
    }
  }

  /** The exit already delivered for `id`, if any. */
  exited(id: string): ExitEvent | undefined {
    return this.#seen.get(id);
  }

  /** Forgets `id` (when its object is removed), here and in the forget listeners. */
  forget(id: string): void {
    this.#seen.delete(id);
    for (const listener of this.#forgetListeners) listener(id);
  }

  /** Registers a listener called by {@linkcode ExitHub.forget} (the exit-dir watcher's memory). */
  onForget(listener: (id: string) => void): void {
    this.#forgetListeners.push(listener);
  }

  /**
   * Waits until `id` exits, `timeoutMs` passes or `signal` is aborted.
   *
   * @returns the exit event, or undefined on timeout or abort
   */
  wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<ExitEvent | undefined> {
    const seen = this.#seen.get(id);
    if (seen) return Promise.resolve(seen);
    if (signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, set = new Set());
      const waiter = (e: ExitEvent) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", giveUp);
        resolve(e);
      };
      const giveUp = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", giveUp);
        set.delete(waiter);
        if (set.size === 0 && this.#waiters.get(id) === set) this.#waiters.delete(id);
        resolve(undefined);
      };
      const timer = setTimeout(giveUp, timeoutMs);
      signal?.addEventListener("abort", giveUp);
      set.add(waiter);
    });
  }

  /** Resolves when the listeners called so far have finished (for tests and shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#pending]);
  }
}
