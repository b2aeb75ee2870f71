/**
 * Pinners that make namespaces in-process, synchronously on the calling thread (the daemon's
 * main JS thread), through libc: {@linkcode ThreadNetnsPinner} (`netns_pin.ts`: a new netns,
 * `lo` brought up inside; and `netns_read.ts`: a file read inside a pinned netns, for the
 * network counters of a pod without a process) and {@linkcode ThreadPodNsPinner}
 * (`pod_ns_pin.ts`: new IPC and UTS namespaces with the pod's hostname and sysctls). No
 * process, no worker.
 *
 * Why the main thread may change namespace: every call is a synchronous FFI call or a
 * synchronous op, so it runs on the JS thread itself, and between `unshare` and the `setns`
 * back no other JavaScript, and no I/O of the event loop, runs on it; other threads (V8's,
 * tokio's blocking pool) keep their own namespaces, since `unshare(2)` and `setns(2)` move only
 * the calling thread. The section takes well under a millisecond (each call is timed and
 * logged at debug level: `Pinned namespaces in-process what=net ms=0.41`).
 *
 * The one failure that is not an error: a thread that cannot get back to its own namespaces
 * (`fatal`). The main thread is the one that spawns runc, conmon and CNI plugins (children
 * inherit its namespaces), makes sockets and writes `/proc/sys`: left in a pod's namespace it
 * would put the next pods' veths, processes and sysctls into that pod, silently. So the
 * daemon logs why and exits at once (`_exit(2)`, no unload handlers, nothing more run in the
 * foreign namespace); conmon keeps the containers running, and the restarted daemon (systemd
 * `Restart=on-failure`) recovers them and sweeps the half-made pod. This is the one case where
 * exiting beats serving.
 *
 * @module
 */
import { ERRNO_NAMES } from "./libc.ts";
import type { Logger } from "../log.ts";
import { nullLogger } from "../log.ts";
import { type NsLibc, openNsLibc } from "./libc_ns.ts";
import { type PinFailure, pinNewNetns } from "./netns_pin.ts";
import {
  NetnsPinError,
  type NetnsPinner,
  type NetnsPinOptions,
  type NetnsReader,
} from "./netns_pinner.ts";
import { readInNetns } from "./netns_read.ts";
import { pinPodNamespaces, type PodNsSpec } from "./pod_ns_pin.ts";
import { PodNsPinError, type PodNsPinner } from "./pod_ns_pinner.ts";

/** The exit status of a daemon whose main thread is stranded (EX_SOFTWARE). */
export const STRANDED_EXIT_CODE = 70;

/** Options of the thread pinners. */
export interface ThreadPinnerOptions {
  /** The calls. @default openNsLibc() */
  libc?: NsLibc;
  /** Gets a debug record per pin (its time on the thread) and the stranded error. */
  logger?: Logger;
  /**
   * Called when the thread could not get back to its namespaces; must not return.
   * @default exitStranded (log, then `_exit(70)`)
   */
  onStranded?: (detail: string) => never;
}

/**
 * Logs that the main thread is stranded and ends the process at once with `_exit(2)`.
 *
 * @param logger Gets the error record (written synchronously).
 * @param detail What failed.
 */
export function exitStranded(logger: Logger, detail: string): never {
  logger.error(
    "The main thread cannot get back to its own namespaces; exiting now, since everything " +
      "the daemon would do next (runc, conmon, CNI plugins, sockets, sysctls) would land in " +
      "a pod's namespace",
    { detail, status: STRANDED_EXIT_CODE },
  );
  try {
    const { symbols } = Deno.dlopen("libc.so.6", {
      _exit: { parameters: ["i32"], result: "void", nonblocking: false },
    });
    symbols._exit(STRANDED_EXIT_CODE);
  } catch {
    // No FFI after all: the next best.
  }
  Deno.exit(STRANDED_EXIT_CODE);
}

/** What both pinners share: the calls, the clock and the stranded handler. */
class ThreadSection {
  readonly libc: NsLibc;
  #log: Logger;
  #onStranded: (detail: string) => never;

  constructor(options: ThreadPinnerOptions) {
    this.libc = options.libc ?? openNsLibc();
    const log = options.logger ?? nullLogger;
    this.#log = log;
    this.#onStranded = options.onStranded ?? ((detail) => exitStranded(log, detail));
  }

  /**
   * Runs one synchronous sequence, logs its time (and a failure's step and detail), and hands
   * a fatal failure to the handler.
   */
  run<R extends { ok: true } | PinFailure>(
    what: string,
    target: string,
    fn: () => R,
    message = "Pinned namespaces in-process",
  ): R {
    const started = performance.now();
    const result = fn();
    this.#log.debug(message, {
      what,
      ok: result.ok,
      ms: (performance.now() - started).toFixed(3),
      ...(result.ok ? {} : { target, step: result.step, detail: result.detail }),
    });
    if (!result.ok && result.fatal) {
      this.#onStranded(`${what} "${target}": ${result.step}: ${result.detail}`);
    }
    return result;
  }
}

/**
 * {@linkcode NetnsPinner} on libc calls made by the calling (main) thread, and the
 * {@linkcode NetnsReader} of pinned namespaces on the same calls; see the module doc.
 */
export class ThreadNetnsPinner implements NetnsPinner, NetnsReader {
  readonly kind = "libc" as const;
  readonly loopback = true;
  #section: ThreadSection;

  /** @throws {Error} When libc cannot be opened (no FFI). */
  constructor(options: ThreadPinnerOptions = {}) {
    this.#section = new ThreadSection(options);
  }

  // deno-lint-ignore require-await
  async pin(target: string, options: NetnsPinOptions = {}): Promise<void> {
    const libc = this.#section.libc;
    const result = this.#section.run("net", target, () => pinNewNetns(libc, target, options));
    if (result.ok) return;
    throw new NetnsPinError({
      path: target,
      step: result.step,
      errno: result.errno === 0 ? "" : (ERRNO_NAMES[result.errno] ?? `errno ${result.errno}`),
      detail: result.detail,
    });
  }

  /**
   * Reads a file inside a pinned netns on this thread (`netns_read.ts`); a failure is logged at
   * debug level with the section and gives undefined.
   */
  readInNetns(netns: string, path: string): string | undefined {
    const libc = this.#section.libc;
    const result = this.#section.run(
      "read net",
      netns,
      () => readInNetns(libc, netns, path),
      "Read in a pinned netns in-process",
    );
    return result.ok ? result.text : undefined;
  }
}

/** {@linkcode PodNsPinner} on libc calls made by the calling (main) thread; see the module doc. */
export class ThreadPodNsPinner implements PodNsPinner {
  readonly kind = "libc" as const;
  #section: ThreadSection;

  /** @throws {Error} When libc cannot be opened (no FFI). */
  constructor(options: ThreadPinnerOptions = {}) {
    this.#section = new ThreadSection(options);
  }

  // deno-lint-ignore require-await
  async pin(spec: PodNsSpec): Promise<void> {
    const libc = this.#section.libc;
    const target = spec.ipc ?? spec.uts ?? "";
    const result = this.#section.run("ipc+uts", target, () => pinPodNamespaces(libc, spec));
    if (result.ok) return;
    throw new PodNsPinError({ step: result.step, errno: result.errno, detail: result.detail });
  }
}
