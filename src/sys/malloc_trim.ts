/**
 * Hands the memory the C allocator keeps free back to the kernel: glibc's `malloc_trim(0)`
 * through Deno's FFI. After a burst of large buffers (an ExecSync output flood: 16 MiB read,
 * encoded and sent over HTTP/2), glibc keeps the freed memory in its arenas: the daemon's
 * RSS stayed 90-240 MB above where it was with the JS heap flat and V8's external memory
 * back at 2 MB, and one `malloc_trim(0)` brought it back (measured here, Deno 2.9.6). The same
 * after a burst of child processes: each spawn's buffers are freed when V8 collects them, and
 * StopPodSandbox of a pod with 500 containers left 100 MiB free in glibc's heap.
 *
 * The call runs on a thread of Deno's blocking pool (`nonblocking`): handing 20 MiB back takes
 * glibc 1 to 3 ms (measured here), which the JS thread does not wait for.
 *
 * @module
 */

/** Trims the allocator's free memory; resolves whether any was released. */
export type TrimMemory = () => Promise<boolean>;

/**
 * Binds `malloc_trim` of the C library.
 *
 * @param path The C library. @default "libc.so.6"
 * @returns The trim function.
 * @throws {Error} When FFI is not permitted or the library or symbol is missing (musl has none).
 */
export function openMallocTrim(path = "libc.so.6"): TrimMemory {
  const lib = Deno.dlopen(path, {
    malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: true },
  });
  return async () => (await lib.symbols.malloc_trim(0n)) === 1;
}

/**
 * `malloc_trim` where it can be bound, else a function that does nothing.
 *
 * @returns The trim function.
 */
export function defaultTrimMemory(): TrimMemory {
  try {
    return openMallocTrim();
  } catch {
    return () => Promise.resolve(false);
  }
}
