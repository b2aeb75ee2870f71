/**
 * Close-on-exec for the daemon's own file descriptors. Deno leaves some of its fds without
 * `FD_CLOEXEC` (the `node:net` listening socket of the CRI endpoint, accepted connections), so
 * every child would inherit them; a long-lived one (conmon) would then hold the CRI socket
 * after a kill -9 of ocid, and the restart could not serve it.
 *
 * {@linkcode markFdsCloseOnExec} sets `FD_CLOEXEC` on every fd from 3 up in one call,
 * `close_range(3, ~0U, CLOSE_RANGE_CLOEXEC)` (Linux 5.11, glibc 2.34), through FFI. It is called
 * right before a child that must not inherit anything is spawned: fds made after it (the new
 * child's pipes) are set up by the spawn itself. When the call is unavailable (no FFI, an older
 * kernel or C library) it says so, and the caller closes the fds another way.
 *
 * @module
 */

/** `close_range(2)` flag: set close-on-exec instead of closing. */
export const CLOSE_RANGE_CLOEXEC = 1 << 2;

const SYMBOLS = {
  close_range: { parameters: ["u32", "u32", "i32"], result: "i32", nonblocking: false },
} as const;

type CloseRange = (first: number, last: number, flags: number) => number;

let closeRange: CloseRange | null | undefined;

function load(): CloseRange | null {
  try {
    const sym = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    const fn: CloseRange = (first, last, flags) => sym.close_range(first, last, flags);
    // Probe once on an empty range: EINVAL or ENOSYS means the kernel lacks the flag.
    return fn(0xffff_fffe, 0xffff_ffff, CLOSE_RANGE_CLOEXEC) === 0 ? fn : null;
  } catch {
    return null; // No FFI permission, no libc, or no close_range symbol.
  }
}

/**
 * Marks every fd from 3 up close-on-exec.
 *
 * @returns Whether it was done; false where `close_range` with `CLOSE_RANGE_CLOEXEC` is
 *   unavailable (then nothing changed).
 */
export function markFdsCloseOnExec(): boolean {
  if (closeRange === undefined) closeRange = load();
  if (closeRange === null) return false;
  return closeRange(3, 0xffff_ffff, CLOSE_RANGE_CLOEXEC) === 0;
}
