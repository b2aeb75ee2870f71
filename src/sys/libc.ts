/**
 * Bindings to the mount calls of the C library through Deno's FFI: `mount(2)`, `umount2(2)`,
 * `errno` and `strerror(3)`. Needs `--allow-ffi` (part of `-A`) and a glibc `libc.so.6`.
 *
 * `mount(2)` is synchronous (`nonblocking: false`): it runs on the JS thread, so `errno` read
 * right after a failed call is that call's. `umount2(2)` runs on a thread of Deno's blocking
 * pool (`nonblocking: true`): taking an overlay off costs the kernel 2 to 3 ms here (18 ms once,
 * under load), which on the JS thread delayed every request that arrived meanwhile (a
 * StopPodSandbox right after StopContainer waited for the rootfs unmount of the exit cleanup).
 * That thread's `errno` cannot be read from the JS thread, so a failed call is asked once more
 * synchronously: the unmount did not happen, and the same call fails again at once (EINVAL,
 * ENOENT, EBUSY) with its `errno` on the JS thread.
 *
 * @module
 */

/** The mount calls of the C library; each returns 0 or the `errno` of the failure. */
export interface Libc {
  /**
   * `mount(2)`.
   *
   * @returns 0 on success, else `errno`.
   */
  mount(source: string, target: string, fstype: string, flags: number, data: string): number;
  /**
   * `umount2(2)`, off the JS thread.
   *
   * @returns 0 on success, else `errno`.
   * @throws {TypeError} At once (no promise) for a target with a NUL byte.
   */
  umount2(target: string, flags: number): Promise<number>;
  /** `strerror(3)`: the C library's text for an `errno`. */
  strerror(errno: number): string;
}

/** `errno` values of Linux (asm-generic) that mount and unmount report. */
export const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  5: "EIO",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  20: "ENOTDIR",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  36: "ENAMETOOLONG",
  40: "ELOOP",
};

/** The mount symbols of libc, shared by every binding of ocid's (see libc_netns.ts too). */
export const MOUNT_SYMBOLS = {
  mount: {
    parameters: ["buffer", "buffer", "buffer", "u64", "buffer"],
    result: "i32",
    nonblocking: false,
  },
  umount2: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
  strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
} as const;

/** What {@linkcode readErrno} and {@linkcode strerrorOf} need of a loaded library. */
interface ErrnoSymbols {
  __errno_location(): Deno.PointerValue;
  strerror(n: number): Deno.PointerValue;
}

/** The calling thread's `errno` (right after a failed synchronous call). */
export function readErrno(sym: ErrnoSymbols): number {
  const ptr = sym.__errno_location();
  return ptr === null ? -1 : new Deno.UnsafePointerView(ptr).getInt32();
}

/** `strerror(3)`: the C library's text for an `errno`. */
export function strerrorOf(sym: ErrnoSymbols, n: number): string {
  const ptr = sym.strerror(n);
  return ptr === null ? `errno ${n}` : Deno.UnsafePointerView.getCString(ptr);
}

/**
 * An error for a failed C call: `<what>: <strerror> (errno <n>)`.
 *
 * @param sym The library the call came from.
 * @param what What failed, like `Cannot open /dev/ptmx for a terminal`.
 * @param errno The failure's `errno`. @default the calling thread's `errno` now
 */
export function errnoError(sym: ErrnoSymbols, what: string, errno = readErrno(sym)): Error {
  return new Error(`${what}: ${strerrorOf(sym, errno)} (errno ${errno})`);
}

const encoder = new TextEncoder();

/** A NUL-terminated copy of `s`, or null for an empty string (the C library's NULL). */
function cString(s: string, what: string): Uint8Array<ArrayBuffer> | null {
  if (s === "") return null;
  if (s.includes("\0")) throw new TypeError(`Invalid ${what} "${s}": contains a NUL byte`);
  return encoder.encode(s + "\0");
}

/**
 * Opens libc and binds the mount calls.
 *
 * @param path The library. @default "libc.so.6"
 * @returns The bindings.
 * @throws {Error} When FFI is not permitted (`--allow-ffi`) or the library cannot be loaded.
 */
export function openLibc(path = "libc.so.6"): Libc {
  const sym = Deno.dlopen(path, {
    ...MOUNT_SYMBOLS,
    umount2_nonblocking: {
      name: "umount2",
      parameters: ["buffer", "i32"],
      result: "i32",
      nonblocking: true,
    },
  }).symbols;
  const errno = () => readErrno(sym);
  return {
    mount(source, target, fstype, flags, data) {
      const rc = sym.mount(
        cString(source, "mount source"),
        cString(target, "mount target") ?? encoder.encode("\0"),
        cString(fstype, "filesystem type"),
        BigInt(flags),
        cString(data, "mount options"),
      );
      return rc === 0 ? 0 : errno();
    },
    umount2(target, flags) {
      const path = cString(target, "mount target") ?? encoder.encode("\0");
      // `path` stays referenced by this closure until the call on the other thread returns.
      return sym.umount2_nonblocking(path, flags).then((rc) => {
        if (rc === 0) return 0;
        const again = sym.umount2(path, flags);
        return again === 0 ? 0 : errno();
      });
    },
    strerror: (n) => strerrorOf(sym, n),
  };
}
