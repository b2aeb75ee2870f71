/**
 * Bindings to the C library calls that make, enter and pin namespaces on the calling thread:
 * `open(2)`, `close(2)`, `unshare(2)`, `setns(2)`, a bind `mount(2)`, `umount2(2)`,
 * `sethostname(2)`, `write(2)` (for `/proc/sys`), the `SIOCSIFFLAGS` ioctl that brings `lo` up,
 * and `errno`, through Deno's FFI (plus two synchronous Deno ops that run on the same thread:
 * `stat` for namespace inodes and a whole-file read). Needs `--allow-ffi` (part of `-A`) and a
 * glibc `libc.so.6`.
 *
 * Every call is synchronous (`nonblocking: false`): it runs on the JS thread that makes it, so
 * `unshare(CLONE_NEWNET)` moves that very thread (and only it), a socket made next belongs to
 * the thread's new netns, a write to `/proc/sys/net` is resolved against it, and `errno` read
 * right after a failed call is that call's. Users: the main-thread pinner
 * (`thread_ns_pinner.ts`, through `netns_pin.ts`, `pod_ns_pin.ts` and `netns_read.ts`) and the
 * port-forward worker (`enterNetns`).
 *
 * @module
 */

import { MOUNT_SYMBOLS, readErrno, strerrorOf } from "./libc.ts";
import { MNT_DETACH, MS_BIND } from "./mounter.ts";

/** `unshare(2)`/`setns(2)` flag: the network namespace. */
export const CLONE_NEWNET = 0x40000000;
/** `unshare(2)`/`setns(2)` flag: the IPC namespace. */
export const CLONE_NEWIPC = 0x08000000;
/** `unshare(2)`/`setns(2)` flag: the UTS namespace (hostname, domain name). */
export const CLONE_NEWUTS = 0x04000000;
/** `open(2)` flag: close on exec. */
export const O_CLOEXEC = 0x80000;
/** `open(2)` flag: write only. */
export const O_WRONLY = 0x1;

/** The namespaces ocid pins. */
export type NsType = "net" | "ipc" | "uts";

/** The `CLONE_NEW*` flag of each namespace type. */
export const CLONE_FLAGS: Readonly<Record<NsType, number>> = {
  net: CLONE_NEWNET,
  ipc: CLONE_NEWIPC,
  uts: CLONE_NEWUTS,
};

/**
 * The calling thread's namespace file of a type (not the process's: the thread may differ).
 *
 * @param type The namespace type.
 * @returns `/proc/thread-self/ns/<type>`.
 */
export function threadNs(type: NsType): string {
  return `/proc/thread-self/ns/${type}`;
}

/** The calling thread's network namespace. */
export const THREAD_NETNS = threadNs("net");

/** The calls the namespace sequences make; each returns 0 (or an fd) or the `errno`. */
export interface NsLibc {
  /**
   * Opens a namespace file read-only (close-on-exec).
   *
   * @returns The fd (>= 0), or `-errno`.
   */
  open(path: string): number;
  /** `close(2)`. @returns 0 or `errno`. */
  close(fd: number): number;
  /** `unshare(flags)` with `CLONE_NEW*` flags. @returns 0 or `errno`. */
  unshare(flags: number): number;
  /** `setns(fd, nstype)`. @returns 0 or `errno`. */
  setns(fd: number, nstype: number): number;
  /** `mount(source, target, NULL, MS_BIND, NULL)`. @returns 0 or `errno`. */
  bindMount(source: string, target: string): number;
  /** `umount2(target, MNT_DETACH)`. @returns 0 or `errno`. */
  unmountDetach(target: string): number;
  /**
   * The inode of a namespace file, or of the namespace mounted on `path`.
   *
   * @throws {Error} When it cannot be read.
   */
  inode(path: string): number;
  /** `sethostname(2)` in the thread's UTS namespace. @returns 0 or `errno`. */
  sethostname(name: string): number;
  /**
   * Sets `IFF_UP` on `lo` of the thread's network namespace (`SIOCGIFFLAGS`, then
   * `SIOCSIFFLAGS` on an `AF_INET` datagram socket); the kernel then gives it 127.0.0.1/8
   * and ::1.
   *
   * @returns 0 or `errno`.
   */
  loopbackUp(): number;
  /**
   * Writes `value` to an existing file (no create, no truncate) in one `write(2)`, as
   * `printf '%s' value > path` does; for `/proc/sys` files.
   *
   * @returns 0 or `errno` (`EIO` for a short write).
   */
  writeFile(path: string, value: string): number;
  /**
   * Reads a whole file as text with a synchronous op, which runs on the calling thread: a path
   * under `/proc/thread-self` is resolved against this thread's namespaces (`net/dev` shows the
   * counters of the thread's netns).
   *
   * @throws {Error} When it cannot be read.
   */
  readFile(path: string): string;
  /** `strerror(3)`. */
  strerror(errno: number): string;
}

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  unshare: { parameters: ["i32"], result: "i32", nonblocking: false },
  setns: { parameters: ["i32", "i32"], result: "i32", nonblocking: false },
  sethostname: { parameters: ["buffer", "u64"], result: "i32", nonblocking: false },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: false },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32", nonblocking: false },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32", nonblocking: false },
  ...MOUNT_SYMBOLS,
} as const;

/** `socket(2)` address family and type for the interface ioctls. */
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** Interface flag ioctls (linux/sockios.h) and `IFF_UP` (linux/if.h). */
const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const IFF_UP = 0x1;
/** `struct ifreq`: a 16-byte name, then a union whose first member is `short ifr_flags`. */
const IFREQ_SIZE = 40;
const IFNAMSIZ = 16;
const EIO = 5;

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
export function openNsLibc(path = "libc.so.6"): NsLibc {
  const sym = Deno.dlopen(path, SYMBOLS).symbols;
  const errno = () => readErrno(sym);
  const rc = (r: number): number => (r === 0 ? 0 : errno());
  const ifreqLo = () => {
    const req = new Uint8Array(IFREQ_SIZE);
    req.set(encoder.encode("lo"));
    return req;
  };
  return {
    open(p) {
      const fd = sym.open(cPath(p), O_CLOEXEC);
      return fd >= 0 ? fd : -errno();
    },
    close: (fd) => rc(sym.close(fd)),
    unshare: (flags) => rc(sym.unshare(flags)),
    setns: (fd, nstype) => rc(sym.setns(fd, nstype)),
    bindMount: (source, target) =>
      rc(sym.mount(cPath(source), cPath(target), null, BigInt(MS_BIND), null)),
    unmountDetach: (target) => rc(sym.umount2(cPath(target), MNT_DETACH)),
    // A sync op runs on the calling thread, so /proc/thread-self is this thread.
    inode: (p) => Deno.statSync(p).ino ?? -1,
    sethostname(name) {
      const bytes = encoder.encode(name);
      if (bytes.includes(0)) throw new TypeError(`Invalid hostname "${name}"`);
      return rc(sym.sethostname(bytes, BigInt(bytes.length)));
    },
    loopbackUp() {
      const fd = sym.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (fd < 0) return errno();
      try {
        const req = ifreqLo();
        if (sym.ioctl(fd, BigInt(SIOCGIFFLAGS), req) < 0) return errno();
        const view = new DataView(req.buffer);
        const flags = view.getUint16(IFNAMSIZ, true);
        if ((flags & IFF_UP) !== 0) return 0;
        view.setUint16(IFNAMSIZ, flags | IFF_UP, true);
        return sym.ioctl(fd, BigInt(SIOCSIFFLAGS), req) < 0 ? errno() : 0;
      } finally {
        sym.close(fd);
      }
    },
    writeFile(p, value) {
      const fd = sym.open(cPath(p), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return errno();
      try {
        const bytes = encoder.encode(value);
        const n = sym.write(fd, bytes, BigInt(bytes.length));
        if (n < 0) return errno();
        return Number(n) === bytes.length ? 0 : EIO;
      } finally {
        sym.close(fd);
      }
    },
    // A sync op, like `inode`: it runs on (and resolves /proc/thread-self against) this thread.
    readFile: (p) => Deno.readTextFileSync(p),
    strerror: (n) => strerrorOf(sym, n),
  };
}

/**
 * Moves the calling thread into the network namespace mounted at `path` for good, and checks
 * that it got there. For a thread that only ever works in that namespace (a worker).
 *
 * @returns undefined, or why the thread could not move.
 */
export function enterNetns(libc: NsLibc, path: string): string | undefined {
  const fd = libc.open(path);
  if (fd < 0) return `cannot open "${path}": ${libc.strerror(-fd)}`;
  const errno = libc.setns(fd, CLONE_NEWNET);
  libc.close(fd);
  if (errno !== 0) return `setns("${path}") failed: ${libc.strerror(errno)}`;
  if (libc.inode(path) !== libc.inode(THREAD_NETNS)) {
    return `setns("${path}") did not move the thread`;
  }
  return undefined;
}
