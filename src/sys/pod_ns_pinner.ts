/**
 * The seam for a pod's IPC and UTS namespaces: a {@linkcode PodNsPinner} pins new ones on
 * existing empty files and sets the pod's hostname and sysctls inside them, either in-process
 * (libc calls on the daemon's main thread: `thread_ns_pinner.ts`) or with one
 * `unshare --ipc=<file> --uts=<file> [nsenter --net=<netns>] sh -c` run
 * (`exec_pod_ns_pinner.ts`). `default_netns_pinner.ts` picks one, with the netns pinner.
 *
 * @module
 */
import { ERRNO_NAMES } from "./libc.ts";
import type { PinStep } from "./netns_pin.ts";
import { STEP_TEXT } from "./netns_pinner.ts";
import type { PodNsSpec } from "./pod_ns_pin.ts";

export type { PodNsSpec, PodSysctl } from "./pod_ns_pin.ts";

/** Pins pods' IPC and UTS namespaces. Tests swap in a fake. */
export interface PodNsPinner {
  /** `libc` (FFI on the main thread) or `exec` (the `unshare` program). */
  readonly kind: "libc" | "exec";
  /**
   * Pins new namespaces on the spec's files, sets the hostname and the sysctls inside them
   * (`net` ones in the pod's netns); leaves nothing mounted when it fails.
   *
   * @throws {PodNsPinError} Naming the step and the cause.
   */
  pin(spec: PodNsSpec): Promise<void>;
}

/** Options of {@linkcode PodNsPinError}. */
export interface PodNsPinErrorOptions extends ErrorOptions {
  /** The failed step (`exec` when the program failed). */
  step: PinStep | "exec";
  /** The errno, or 0 (a check, or the program). */
  errno: number;
  /** The C library's text, the program's stderr, or what went wrong. */
  detail: string;
}

/** Pinning a pod's IPC and UTS namespaces failed. */
export class PodNsPinError extends Error {
  /** The failed step. */
  readonly step: PodNsPinErrorOptions["step"];

  constructor(options: PodNsPinErrorOptions) {
    const { step, errno, detail } = options;
    const name = errno === 0 ? "" : `${ERRNO_NAMES[errno] ?? `errno ${errno}`}: `;
    super(`${STEP_TEXT[step]} failed: ${name}${detail.trim()}`, options);
    this.name = "PodNsPinError";
    this.step = step;
  }
}
