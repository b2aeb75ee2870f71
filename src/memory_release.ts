/**
 * Gives memory back once work pauses: every answered call asks for it
 * ({@linkcode MemoryRelease.soon}, from `src/server/instrument.ts`), and a trim of the allocator
 * (`src/sys/malloc_trim.ts`) follows a moment after the last of a burst, once replies are written
 * out and their buffers freed. A pull, an ExecSync reply of megabytes, or a burst of child
 * processes (StopPodSandbox of a pod with 500 containers) leave tens of MiB free in glibc's
 * arenas that it would otherwise keep.
 *
 * Calls that never pause (a kubelet polling several times a second) must not put the trim off
 * for ever: it also runs at most `maxWaitMs` after the first call it waits for. The timer never
 * keeps the daemon alive.
 *
 * @module
 */

/** Asks for the allocator's free memory to go back to the kernel. */
export interface MemoryRelease {
  /** Trims once, `delayMs` after the last call, or `maxWaitMs` after the first one if sooner. */
  soon(): void;
  /** Cancels a pending trim. */
  close(): void;
}

/** Options of {@linkcode memoryRelease}. */
export interface MemoryReleaseOptions {
  /** Wait after the last request. @default 1000 */
  delayMs?: number;
  /** The longest wait after the first request of a burst. @default 10000 */
  maxWaitMs?: number;
}

/**
 * Makes a {@linkcode MemoryRelease} around a trim function.
 *
 * @param trim Releases free memory (e.g. `defaultTrimMemory()`); may return a promise.
 * @param options The delays.
 * @returns The debounced release.
 */
export function memoryRelease(
  trim: () => unknown,
  options: MemoryReleaseOptions = {},
): MemoryRelease {
  const { delayMs = 1_000, maxWaitMs = 10_000 } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** When the first and the last request the pending trim waits for came. */
  let firstAt = 0;
  let lastAt = 0;
  const arm = (ms: number) => {
    timer = setTimeout(fire, Math.max(0, ms));
    Deno.unrefTimer(timer);
  };
  // One timer per burst, not one per request (every answered call asks): when it fires early
  // because requests kept coming, it waits again for what is left.
  const fire = () => {
    const left = Math.min(lastAt + delayMs, firstAt + maxWaitMs) - performance.now();
    if (left > 0) return arm(left);
    timer = undefined;
    // A failed trim changes nothing: memory stays as it was.
    Promise.resolve().then(trim).catch(() => {});
  };
  return {
    soon() {
      lastAt = performance.now();
      if (timer !== undefined) return;
      firstAt = lastAt;
      arm(delayMs);
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
