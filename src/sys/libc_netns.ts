/**
 * Bindings to the C library calls that make a network namespace on the calling thread:
 * `open(2)`, `close(2)`, `unshare(2)`, `setns(2)`, a bind `mount(2)`, `umount2(2)` and `errno`,
 * through Deno's FFI. Needs `--allow-ffi` (part of `-A`) and a glibc `libc.so.6`.
 *
 * Every call is synchronous (`nonblocking: false`): it runs on the JS thread that makes it, so
 * `unshare(CLONE_NEWNET)` moves that very thread, and `errno` read right after a failed call is
 * that call's. Only the worker of `netns_worker.ts` uses these, on its own OS thread.
 *
 * @module
 */

import { MOUNT_SYMBOLS, readErrno, strerrorOf } from "./libc.ts";
import { MNT_DETACH, MS_BIND } from "./mounter.ts";

/** `unshare(2)`/`setns(2)` flag: the network namespace. */
export const CLONE_NEWNET = 0x40000000;
/** `open(2)` flag: close on exec. */
export const O_CLOEXEC = 0x80000;
/** The calling thread's network namespace (not the process's: the thread may differ). */
export const THREAD_NETNS = "/proc/thread-self/ns/net";

/** The calls {@linkcode pinNewNetns} makes; each returns 0 (or an fd) or the `errno`. */
export interface NetnsLibc {
  /**
   * Opens a namespace file read-only (close-on-exec).
   *
   * @param path @default THREAD_NETNS (the calling thread's netns)
   * @returns The fd (≥ 0), or `-errno`.
   */
  openNetns(path?: string): number;
  /** `close(2)`. @returns 0 or `errno`. */
  close(fd: number): number;
  /** `unshare(CLONE_NEWNET)`. @returns 0 or `errno`. */
  unshareNet(): number;
  /** `setns(fd, CLONE_NEWNET)`. @returns 0 or `errno`. */
  setnsNet(fd: number): number;
  /** `mount(source, target, NULL, MS_BIND, NULL)`. @returns 0 or `errno`. */
  bindMount(source: string, target: string): number;
  /** `umount2(target, MNT_DETACH)`. @returns 0 or `errno`. */
  unmountDetach(target: string): number;
  /**
   * The inode of a namespace file, or of the namespace mounted on `path`.
   *
   * @param path @default THREAD_NETNS (the calling thread's netns)
   * @throws {Error} When it cannot be read.
   */
  inode(path?: string): number;
  /** `strerror(3)`. */
  strerror(errno: number): string;
}

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  unshare: { parameters: ["i32"], result: "i32", nonblocking: false },
  setns: { parameters: ["i32", "i32"], result: "i32", nonblocking: false },
  ...MOUNT_SYMBOLS,
} as const;

const encoder = new TextEncoder();

function cPath(path: string): Uint8Array<ArrayBuffer> {
  if (path === "" || path.includes("\0")) throw new TypeError(`Invalid path "${path}"`);
  return encoder.encode(path + "\0");
}

/**
 * Opens libc and binds the namespace calls.
 *
 * @param path The library. @default "libc.so.6"
 * @throws {Error} When FFI is not permitted (`--allow-ffi`) or the library cannot be loaded.
 */
export function openNetnsLibc(path = "libc.so.6"): NetnsLibc {
  const sym = Deno.dlopen(path, SYMBOLS).symbols;
  const threadNetns = cPath(THREAD_NETNS);
  const errno = () => readErrno(sym);
  const rc = (r: number): number => (r === 0 ? 0 : errno());
  return {
    openNetns(p) {
      const fd = sym.open(p === undefined ? threadNetns : cPath(p), O_CLOEXEC);
      return fd >= 0 ? fd : -errno();
    },
    close: (fd) => rc(sym.close(fd)),
    unshareNet: () => rc(sym.unshare(CLONE_NEWNET)),
    setnsNet: (fd) => rc(sym.setns(fd, CLONE_NEWNET)),
    bindMount: (source, target) =>
      rc(sym.mount(cPath(source), cPath(target), null, BigInt(MS_BIND), null)),
    unmountDetach: (target) => rc(sym.umount2(cPath(target), MNT_DETACH)),
    // A sync op runs on the calling thread, so /proc/thread-self is this thread.
    inode: (p = THREAD_NETNS) => Deno.statSync(p).ino ?? -1,
    strerror: (n) => strerrorOf(sym, n),
  };
}

/**
 * Moves the calling thread into the network namespace mounted at `path` for good, and checks
 * that it got there. For a thread that only ever works in that namespace (a worker).
 *
 * @returns undefined, or why the thread could not move.
 */
export function enterNetns(libc: NetnsLibc, path: string): string | undefined {
  const fd = libc.openNetns(path);
  if (fd < 0) return `cannot open "${path}": ${libc.strerror(-fd)}`;
  const errno = libc.setnsNet(fd);
  libc.close(fd);
  if (errno !== 0) return `setns("${path}") failed: ${libc.strerror(errno)}`;
  if (libc.inode(path) !== libc.inode()) return `setns("${path}") did not move the thread`;
  return undefined;
}
