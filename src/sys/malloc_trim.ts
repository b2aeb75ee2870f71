/**
 * Hands the memory the C allocator keeps free back to the kernel: glibc's `malloc_trim(0)`
 * through Deno's FFI. After a burst of large buffers (an ExecSync output flood: 16 MiB read,
 * encoded and sent over HTTP/2), glibc keeps the freed memory in its arenas: the daemon's
 * RSS stayed 90-240 MB above where it was with the JS heap flat and V8's external memory
 * back at 2 MB, and one `malloc_trim(0)` brought it back (measured here, Deno 2.9.6).
 *
 * @module
 */

/** Trims the allocator's free memory; returns whether any was released. */
export type TrimMemory = () => boolean;

/**
 * Binds `malloc_trim` of the C library.
 *
 * @param path The C library. @default "libc.so.6"
 * @returns The trim function.
 * @throws {Error} When FFI is not permitted or the library or symbol is missing (musl has none).
 */
export function openMallocTrim(path = "libc.so.6"): TrimMemory {
  const lib = Deno.dlopen(path, {
    malloc_trim: { parameters: ["usize"], result: "i32", nonblocking: false },
  });
  return () => lib.symbols.malloc_trim(0n) === 1;
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
    return () => false;
  }
}
