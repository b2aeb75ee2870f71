/**
 * {@linkcode NetnsPinner} on libc calls made by a worker thread (`netns_worker.ts`): no
 * process per namespace. The daemon's own threads never change namespace; the worker's thread
 * changes and comes back within one synchronous request.
 *
 * One worker serves all requests in order. It is started at the first request (or by
 * `warm()`) and stopped after `idleMs` without requests; it holds the process open only while
 * a request is in flight (`unref` when idle). A worker that
 * reports it is stranded (cannot get back to its netns), dies, or does not answer in time is
 * terminated and the next request starts a new one. When a worker cannot start at all (no
 * FFI, no libc, the module missing from a compiled binary), every request goes to the
 * `fallback` pinner if there is one.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { ERRNO_NAMES } from "./libc.ts";
import { NetnsPinError, type NetnsPinner } from "./netns_pinner.ts";
import type { PinResult } from "./netns_pin.ts";
import type { PinRequest, WorkerMessage } from "./netns_worker.ts";

/** The main side of a worker: what {@linkcode WorkerNetnsPinner} needs of it. */
export interface NetnsWorkerPort {
  postMessage(message: PinRequest): void;
  /** Calls `fn` with every message the worker posts. */
  onMessage(fn: (message: WorkerMessage) => void): void;
  /** Calls `fn` once when the worker fails or exits. */
  onExit(fn: (reason: string) => void): void;
  /** Keeps the process alive while requests are in flight. */
  ref(): void;
  /** Lets the process exit while idle. */
  unref(): void;
  terminate(): Promise<void>;
}

/** Starts the real worker (`netns_worker.ts`) on its own OS thread. */
export function spawnNetnsWorker(): NetnsWorkerPort {
  const worker = new Worker(new URL("./netns_worker.ts", import.meta.url));
  return {
    postMessage: (m) => worker.postMessage(m),
    onMessage: (fn) => worker.on("message", fn),
    onExit(fn) {
      let done = false;
      const once = (reason: string) => {
        if (!done) {
          done = true;
          fn(reason);
        }
      };
      worker.on("error", (e: unknown) => once(e instanceof Error ? e.message : String(e)));
      worker.on("exit", (code: number) => once(`the worker exited with code ${code}`));
    },
    ref: () => worker.ref(),
    unref: () => worker.unref(),
    terminate: async () => {
      await worker.terminate();
    },
  };
}

/** Options of {@linkcode WorkerNetnsPinner}. */
export interface WorkerNetnsPinnerOptions {
  /** Starts a worker. @default spawnNetnsWorker */
  spawn?: () => NetnsWorkerPort;
  /** Used for every request when no worker can start. */
  fallback?: NetnsPinner;
  /** A request not answered in this time terminates the worker. @default 30000 */
  timeoutMs?: number;
  /**
   * An idle worker is stopped after this time, giving back its memory (an isolate: about
   * 13 MiB of RSS in the daemon); the next request starts a new one (about 60 ms).
   * `Infinity` keeps it. @default 60000
   */
  idleMs?: number;
}

interface Pending {
  target: string;
  resolve: (result: PinResult) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** One started worker and its requests in flight. */
class Live {
  readonly port: NetnsWorkerPort;
  readonly ready: Promise<void>;
  dead = false;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #timeoutMs: number;
  #idleMs: number;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #onDead: (live: Live) => void;

  constructor(
    port: NetnsWorkerPort,
    times: { timeoutMs: number; idleMs: number },
    onDead: (live: Live) => void,
  ) {
    this.port = port;
    this.#timeoutMs = times.timeoutMs;
    this.#idleMs = times.idleMs;
    this.#onDead = onDead;
    // Held while starting: a pending start must keep the process alive.
    port.ref();
    this.ready = new Promise<void>((resolve, reject) => {
      port.onMessage((m) => {
        if (m.type === "ready") {
          this.#idle();
          resolve();
        } else if (m.type === "unavailable") {
          reject(new Error(m.detail));
          this.kill(`unavailable: ${m.detail}`);
        } else this.#settle(m.id, m.result);
      });
      port.onExit((reason) => {
        reject(new Error(reason));
        this.#die(reason);
      });
    });
    this.ready.catch(() => {});
  }

  request(target: string): Promise<PinResult> {
    if (this.dead) return Promise.reject(new Error("the worker has stopped"));
    const id = this.#nextId++;
    return new Promise<PinResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill(`no answer for "${target}" in ${this.#timeoutMs} ms`);
      }, this.#timeoutMs);
      this.#pending.set(id, { target, resolve, reject, timer });
      clearTimeout(this.#idleTimer);
      this.port.ref();
      this.port.postMessage({ id, target });
    });
  }

  /** Terminates the worker, failing its requests in flight with `reason`. */
  kill(reason: string): void {
    this.#die(reason);
    this.port.terminate().catch(() => {});
  }

  #settle(id: number, result: PinResult): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    clearTimeout(p.timer);
    this.#idle();
    p.resolve(result);
  }

  #die(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.#onDead(this);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
    }
    this.#pending.clear();
    clearTimeout(this.#idleTimer);
    this.port.unref();
  }

  #idle(): void {
    if (this.#pending.size > 0 || this.dead) return;
    this.port.unref();
    clearTimeout(this.#idleTimer);
    if (Number.isFinite(this.#idleMs)) {
      this.#idleTimer = setTimeout(() => {
        if (this.#pending.size === 0) this.kill("idle");
      }, this.#idleMs);
      Deno.unrefTimer(this.#idleTimer as unknown as number);
    }
  }
}

/** Pins namespaces through libc calls on a worker thread. */
export class WorkerNetnsPinner implements NetnsPinner {
  readonly kind = "libc" as const;
  #spawn: () => NetnsWorkerPort;
  #fallback: NetnsPinner | undefined;
  #times: { timeoutMs: number; idleMs: number };
  #live: Live | undefined;
  /** Why no worker can start; then every request goes to the fallback. */
  #unavailable: Error | undefined;

  constructor(options: WorkerNetnsPinnerOptions = {}) {
    this.#spawn = options.spawn ?? spawnNetnsWorker;
    this.#fallback = options.fallback;
    this.#times = { timeoutMs: options.timeoutMs ?? 30_000, idleMs: options.idleMs ?? 60_000 };
  }

  /** Whether requests go to the fallback because no worker could start. */
  get fallingBack(): boolean {
    return this.#unavailable !== undefined;
  }

  async pin(target: string): Promise<void> {
    const live = await this.#worker(target);
    if (!live) return this.#fallback!.pin(target);
    let result: PinResult;
    try {
      result = await live.request(target);
    } catch (e) {
      throw new NetnsPinError({
        path: target,
        step: "worker",
        errno: "",
        detail: e instanceof Error ? e.message : String(e),
        cause: e,
      });
    }
    if (result.ok) return;
    if (result.fatal) live.kill(`stranded after "${target}": ${result.detail}`);
    throw new NetnsPinError({
      path: target,
      step: result.step,
      errno: result.errno === 0 ? "" : (ERRNO_NAMES[result.errno] ?? `errno ${result.errno}`),
      detail: result.detail,
    });
  }

  /**
   * Starts the worker now, in the background, so that the first request does not wait for it
   * (about 60 ms). Errors are left to the first request.
   */
  warm(): void {
    this.#worker("(warm-up)").catch(() => {});
  }

  /** Stops the worker (tests; the daemon may simply exit). */
  async close(): Promise<void> {
    const live = this.#live;
    this.#live = undefined;
    if (live) {
      live.kill("the pinner was closed");
      await live.port.terminate().catch(() => {});
    }
  }

  /** The live worker, started if needed; undefined when requests go to the fallback. */
  async #worker(target: string): Promise<Live | undefined> {
    if (this.#unavailable && this.#fallback) return undefined;
    if (!this.#live || this.#live.dead) {
      this.#live = new Live(this.#spawn(), this.#times, (dead) => {
        if (this.#live === dead) this.#live = undefined;
      });
    }
    const live = this.#live;
    try {
      await live.ready;
      this.#unavailable = undefined;
      return live;
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.#unavailable = error;
      if (this.#fallback) return undefined;
      throw new NetnsPinError({
        path: target,
        step: "worker",
        errno: "",
        detail: `the netns worker cannot start: ${error.message}`,
        cause: e,
      });
    }
  }
}
