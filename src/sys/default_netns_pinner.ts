/**
 * Picks how network namespaces are made, once per process, at the first
 * {@linkcode defaultNetnsPinner} call: the `unshare` program, unless `OCID_NETNS=libc` asks for
 * libc calls on a worker thread (Linux with FFI). With `libc`, a worker that cannot start sends
 * every request to `unshare` instead.
 *
 * Why `unshare` is the default: measured side by side, the worker saves ~1.4 ms per create
 * (0.7 ms against 2.1 ms) but RunPodSandbox's p50 did not move measurably, and the worker's V8
 * isolate costs ~13 MiB of the daemon's RSS while it lives.
 *
 * @module
 */
import type { Runner } from "../process.ts";
import { ExecNetnsPinner } from "./exec_netns_pinner.ts";
import type { NetnsPinner } from "./netns_pinner.ts";
import { WorkerNetnsPinner } from "./worker_netns_pinner.ts";

/** How namespaces are made; an OCID_NETNS value. */
export type NetnsKind = NetnsPinner["kind"];

/** Inputs of {@linkcode chooseNetnsKind}. */
export interface NetnsChoice {
  /** `Deno.build.os`. */
  os: string;
  /** The OCID_NETNS setting, if any. */
  setting: string | undefined;
  /** Whether FFI is permitted (`--allow-ffi`). */
  ffi: boolean;
}

/**
 * Decides: `exec` unless OCID_NETNS says `libc` (which needs Linux and FFI).
 *
 * @throws {TypeError} When OCID_NETNS is not `exec`, `libc` or empty, or says `libc` where
 *   FFI is not permitted.
 */
export function chooseNetnsKind(choice: NetnsChoice): NetnsKind {
  const setting = choice.setting ?? "";
  if (setting !== "" && setting !== "exec" && setting !== "libc") {
    throw new TypeError(`Invalid OCID_NETNS "${setting}": use "exec" or "libc"`);
  }
  if (setting === "exec") return "exec";
  const libcWorks = choice.os === "linux" && choice.ffi;
  if (setting === "libc" && !libcWorks) {
    throw new TypeError(
      `OCID_NETNS is "libc" but libc namespace calls are unavailable here (os "${choice.os}", ffi ${choice.ffi}): run with --allow-ffi or set OCID_NETNS=exec`,
    );
  }
  return setting === "libc" ? "libc" : "exec";
}

/** The process-wide choice, made once; the worker pinner is shared by every manager. */
let chosen: { kind: NetnsKind; worker?: WorkerNetnsPinner } | undefined;

function readSetting(): string | undefined {
  try {
    return Deno.env.get("OCID_NETNS");
  } catch {
    return undefined; // No --allow-env: the default.
  }
}

function ffiPermitted(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * The pinner this process uses: chosen once (OCID_NETNS, then whether FFI is permitted) and
 * reused; the `unshare` program runs through `runner` (also as the libc pinner's fallback).
 *
 * @param runner Runs `unshare` when the program is used.
 * @param options The program. @default {unshare: "unshare"}
 * @throws {TypeError} When OCID_NETNS is invalid (see {@linkcode chooseNetnsKind}).
 */
export function defaultNetnsPinner(
  runner: Runner,
  options: { unshare?: string } = {},
): NetnsPinner {
  const exec = new ExecNetnsPinner(runner, options);
  if (!chosen) {
    const setting = readSetting();
    const kind = chooseNetnsKind({ os: Deno.build.os, setting, ffi: ffiPermitted() });
    chosen = kind === "libc" ? { kind, worker: new WorkerNetnsPinner() } : { kind };
    chosen.worker?.warm();
  }
  return chosen.worker ? withFallback(chosen.worker, exec) : exec;
}

/** The shared worker pinner, falling back to this caller's `unshare` when no worker starts. */
function withFallback(worker: WorkerNetnsPinner, exec: NetnsPinner): NetnsPinner {
  return {
    kind: "libc",
    async pin(target) {
      if (worker.fallingBack) return exec.pin(target);
      try {
        return await worker.pin(target);
      } catch (e) {
        if (worker.fallingBack) return exec.pin(target); // The worker could not start.
        throw e;
      }
    },
  };
}
