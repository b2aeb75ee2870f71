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
  mount: "bind mount",
  setns: "setns back to the original namespace",
  verify: "namespace check",
  exec: "unshare program",
};
