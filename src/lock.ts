/**
 * Keyed mutual exclusion: requests for the same pod, container name or image run one at a time;
 * unrelated keys run in parallel.
 *
 * @module
 */

/** A set of named locks, each a FIFO queue. Entries vanish when nobody holds or awaits them. */
export class KeyedMutex {
  #tails = new Map<string, Promise<void>>();

  /**
   * Waits for the lock named `key` and returns its release, usable with `using`.
   *
   * @example
   * ```ts
   * using _ = await locks.lock(`sandbox:${id}`);
   * ```
   */
  async lock(key: string): Promise<Disposable & { release(): void }> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => current);
    this.#tails.set(key, tail);
    await previous;
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      release();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    return { release: done, [Symbol.dispose]: done };
  }

  /** Runs `fn` while holding the lock named `key`. */
  async with<T>(key: string, fn: () => Promise<T>): Promise<T> {
    using _ = await this.lock(key);
    return await fn();
  }

  /** How many keys are held or awaited; for tests and leak checks. */
  get size(): number {
    return this.#tails.size;
  }
}
