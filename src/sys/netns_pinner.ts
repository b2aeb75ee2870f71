/**
 * The netns seam: a {@linkcode NetnsPinner} mounts a new network namespace on an existing
 * empty file, either in-process (libc calls on a worker thread: `worker_netns_pinner.ts`) or
 * by running `unshare --net=<file> true` (`exec_netns_pinner.ts`). `default_netns_pinner.ts`
 * picks one per process.
 *
 * @module
 */
import type { PinStep } from "./netns_pin.ts";

/** Mounts new network namespaces on files. Tests swap in a fake. */
export interface NetnsPinner {
  /** `libc` (FFI on a worker thread) or `exec` (the `unshare` program). */
  readonly kind: "libc" | "exec";
  /**
   * Mounts a new network namespace on `target`, an existing empty file.
   *
   * @throws {NetnsPinError} Naming the file, the step and the cause.
   */
  pin(target: string): Promise<void>;
}

/** Options of {@linkcode NetnsPinError}. */
export interface NetnsPinErrorOptions extends ErrorOptions {
  /** The file the namespace was to be mounted on. */
  path: string;
  /** The failed step (`exec` when the `unshare` program failed, `worker` for the thread). */
  step: PinStep | "exec" | "worker";
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

const STEP_TEXT: Record<NetnsPinErrorOptions["step"], string> = {
  open: "open of the thread's netns",
  unshare: "unshare(CLONE_NEWNET)",
  mount: "bind mount",
  setns: "setns back to the original netns",
  verify: "namespace check",
  exec: "unshare program",
  worker: "netns worker thread",
};
