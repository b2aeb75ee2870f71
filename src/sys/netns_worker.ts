/**
 * The netns worker: a module worker (`node:worker_threads`, one OS thread of its own) that
 * pins network namespaces with {@linkcode pinNewNetns}, one request at a time, every call
 * synchronous on this thread. `unshare(CLONE_NEWNET)` moves only this thread; it moves back
 * before replying. When it cannot move back, it replies and exits: a thread stranded in a
 * pod's namespace must never run anything else.
 *
 * Messages in: {@linkcode PinRequest}. Out: {@linkcode WorkerMessage}.
 *
 * @module
 */
import process from "node:process";
import { parentPort } from "node:worker_threads";
import { type NetnsLibc, openNetnsLibc } from "./libc_netns.ts";
import { pinNewNetns, type PinResult } from "./netns_pin.ts";

/** A request: mount a new netns on `target`. */
export interface PinRequest {
  id: number;
  target: string;
}

/** What the worker posts. */
export type WorkerMessage =
  | { type: "ready"; /** The worker thread's id (`/proc/thread-self`). */ thread: string }
  | { type: "unavailable"; detail: string }
  | { type: "result"; id: number; result: PinResult };

function serve(port: NonNullable<typeof parentPort>): void {
  let libc: NetnsLibc;
  try {
    libc = openNetnsLibc();
  } catch (e) {
    port.postMessage(
      {
        type: "unavailable",
        detail: e instanceof Error ? e.message : String(e),
      } satisfies WorkerMessage,
    );
    return;
  }
  port.on("message", (req: PinRequest) => {
    let result: PinResult;
    try {
      result = pinNewNetns(libc, req.target);
    } catch (e) {
      // Only argument checks throw (before unshare): the thread has not moved.
      result = {
        ok: false,
        step: "open",
        errno: 0,
        detail: e instanceof Error ? e.message : String(e),
        fatal: false,
      };
    }
    port.postMessage({ type: "result", id: req.id, result } satisfies WorkerMessage);
    if (!result.ok && result.fatal) process.exit(1);
  });
  port.postMessage(
    { type: "ready", thread: Deno.readLinkSync("/proc/thread-self") } satisfies WorkerMessage,
  );
}

if (parentPort) serve(parentPort);
