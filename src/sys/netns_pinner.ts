/**
 * The netns seam: a {@linkcode NetnsPinner} mounts a new network namespace on an existing
 * empty file, either in-process (libc calls on the daemon's main thread:
 * `thread_ns_pinner.ts`) or by running `unshare --net=<file> true` (`exec_netns_pinner.ts`).
 * `default_netns_pinner.ts` picks one.
 *
 * @module
 */
import type { PinStep } from "./netns_pin.ts";

/** Options of {@linkcode NetnsPinner.pin}. */
export interface NetnsPinOptions {
  /** Bring `lo` up in the new namespace; only for a pinner whose `loopback` is true. */
  loopback?: boolean;
}

/** Mounts new network namespaces on files. Tests swap in a fake. */
export interface NetnsPinner {
  /** `libc` (FFI on the main thread) or `exec` (the `unshare` program). */
  readonly kind: "libc" | "exec";
  /** Whether `pin` can bring `lo` up in the namespace it makes (`options.loopback`). */
  readonly loopback: boolean;
  /**
   * Mounts a new network namespace on `target`, an existing empty file.
   *
   * @param target The file.
   * @param options Whether to bring `lo` up in it.
   * @throws {NetnsPinError} Naming the file, the step and the cause.
   * @throws {TypeError} When asked for `loopback` by a pinner that cannot.
   */
  pin(target: string, options?: NetnsPinOptions): Promise<void>;
}

/**
 * Reads files from inside pinned network namespaces, in-process. Only a pinner that enters
 * namespaces on the calling thread (`libc`: `ThreadNetnsPinner`) is one; where namespaces are
 * made by programs (`exec`: no FFI) there is none, and what only shows inside a netns needs a
 * process there (`/proc/<pid>/net/dev`).
 */
export interface NetnsReader {
  /**
   * Reads `path` with the calling thread inside the netns pinned at `netns`, then back.
   *
   * @param netns The pinned network namespace file.
   * @param path The file, e.g. `/proc/thread-self/net/dev` (the netns's counters).
   * @returns The text, or undefined when the namespace or the file cannot be read (a pod being
   *   torn down); a thread that cannot get back ends the daemon (see `thread_ns_pinner.ts`).
   */
  readInNetns(netns: string, path: string): string | undefined;
}

/**
 * The pinner as a {@linkcode NetnsReader}, when it is one.
 *
 * @returns The pinner, or undefined for one that cannot read inside a netns (`exec`).
 */
export function netnsReaderOf(pinner: NetnsPinner): NetnsReader | undefined {
  const reader = pinner as NetnsPinner & Partial<NetnsReader>;
  return typeof reader.readInNetns === "function" ? reader as NetnsReader : undefined;
}

/** Options of {@linkcode NetnsPinError}. */
export interface NetnsPinErrorOptions extends ErrorOptions {
  /** The file the namespace was to be mounted on. */
  path: string;
  /** The failed step (`exec` when the `unshare` program failed). */
  step: PinStep | "exec";
  /** The errno name (`EPERM`), or `""`. */
  errno: string;
  /** The C library's text, the program's stderr, or what went wrong. */
  detail: string;
}

/** Pinning a network namespace failed. */
export class NetnsPinError extends Error {
  /** The file. */
  readonly path: string;
  /** The failed step. */
  readonly step: NetnsPinErrorOptions["step"];
  /** The errno name, or `""`. */
  readonly errno: string;

  constructor(options: NetnsPinErrorOptions) {
    const { path, step, errno, detail } = options;
    const cause = errno ? `${errno}: ${detail}` : detail.trim();
    super(
      `Cannot pin a new network namespace on "${path}" (${STEP_TEXT[step]}): ${cause}`,
      options,
    );
    this.name = "NetnsPinError";
    this.path = path;
    this.step = step;
    this.errno = errno;
  }
}

/** Each step in words, for messages. */
export const STEP_TEXT: Readonly<Record<PinStep | "exec", string>> = {
  open: "open of the thread's namespace",
  unshare: "unshare",
  loopback: "bringing lo up",
  hostname: "sethostname",
  sysctl: "sysctl write",
  enter: "setns into the pod's netns",
  read: "read inside the pod's netns",
  mount: "bind mount",
  setns: "setns back to the original namespace",
  verify: "namespace check",
  exec: "unshare program",
};
