/**
 * {@linkcode Limiter}: the runtime's short verbs share one, so a burst (300 StopContainer calls,
 * or StopPodSandbox of a pod with 300 running containers) runs a few `runc` at a time instead of
 * one per container at the same moment.
 *
 * @module
 */

/**
 * A bound on work running at once: {@linkcode Limiter.run} waits for a free place, first come
 * first served.
 *
 * @example
 * ```ts
 * const verbs = new Limiter(8);
 * const out = await verbs.run(() => runner.run("runc", ["kill", id, "KILL"]));
 * ```
 */
export class Limiter {
  readonly max: number;
  readonly holdMs: number;
  #running = 0;
  #queue: (() => void)[] = [];

  /**
   * @param max The most tasks running at once (at least 1).
   * @param options `holdMs`: the longest a task keeps its place; one still running then gives
   *   it up and runs on uncounted (a hung process waits, it does not work, and must not stall
   *   the others until its own timeout). @default Infinity
   */
  constructor(max: number, options: { holdMs?: number } = {}) {
    this.max = Math.max(1, Math.floor(max));
    this.holdMs = options.holdMs ?? Infinity;
  }

  /** Tasks holding a place now. */
  get running(): number {
    return this.#running;
  }

  /** Tasks waiting for a place. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Runs `task` once a place is free; its place is freed when it settles or after `holdMs`. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.max) {
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      // The place passes straight to the next waiter (the count stays), else it is freed.
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    };
    const timer = Number.isFinite(this.holdMs) ? setTimeout(release, this.holdMs) : undefined;
    try {
      return await task();
    } finally {
      clearTimeout(timer);
      release();
    }
  }
}
