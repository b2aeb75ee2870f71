/**
 * Gives memory back after an RPC that moved a lot of it (an ExecSync reply of megabytes, a pull):
 * {@linkcode MemoryRelease.soon} asks for a trim of the allocator (`src/sys/malloc_trim.ts`)
 * a moment later, once the reply has been written out and its buffers freed; requests in a
 * burst make one trim. The timer never keeps the daemon alive.
 *
 * @module
 */

/** Asks for the allocator's free memory to go back to the kernel. */
export interface MemoryRelease {
  /** Trims once, `delayMs` after the last call. */
  soon(): void;
  /** Cancels a pending trim. */
  close(): void;
}

/** Options of {@linkcode memoryRelease}. */
export interface MemoryReleaseOptions {
  /** Wait after the last request. @default 1000 */
  delayMs?: number;
}

/**
 * Makes a {@linkcode MemoryRelease} around a trim function.
 *
 * @param trim Releases free memory (e.g. `defaultTrimMemory()`).
 * @param options The delay.
 * @returns The debounced release.
 */
export function memoryRelease(
  trim: () => unknown,
  options: MemoryReleaseOptions = {},
): MemoryRelease {
  const { delayMs = 1_000 } = options;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    soon() {
      clearTimeout(timer);
      const id = setTimeout(() => {
        timer = undefined;
        trim();
      }, delayMs);
      Deno.unrefTimer(id);
      timer = id;
    },
    close() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
