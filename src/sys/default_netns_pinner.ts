/**
 * Picks how namespaces are made: libc calls on the daemon's main thread
 * (`thread_ns_pinner.ts`, the default on Linux where FFI is permitted and libc opens) or the
 * `unshare` program (`OCID_NETNS=exec`, and without FFI). The same choice serves the network
 * namespaces ({@linkcode defaultNetnsPinner}) and pods' IPC and UTS namespaces
 * ({@linkcode defaultPodNsPinner}).
 *
 * Why libc on the main thread: RunPodSandbox then starts no `unshare` process (each spawn
 * costs the JS thread about 0.9 ms in `op_spawn_child`, plus the process's own time on a busy
 * machine), and `lo` comes up in the same section instead of through the loopback plugin.
 * A worker thread (the earlier `OCID_NETNS=libc`) kept the main thread out of foreign
 * namespaces but cost about 13 MiB of RSS and ~60 ms to start.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../process.ts";
import { ExecNetnsPinner } from "./exec_netns_pinner.ts";
import { ExecPodNsPinner } from "./exec_pod_ns_pinner.ts";
import { type NsLibc, openNsLibc } from "./libc_ns.ts";
import type { NetnsPinner } from "./netns_pinner.ts";
import type { PodNsPinner } from "./pod_ns_pinner.ts";
import { ThreadNetnsPinner, ThreadPodNsPinner } from "./thread_ns_pinner.ts";

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
 * Decides: `libc` on Linux with FFI, unless OCID_NETNS says `exec`.
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
  return libcWorks ? "libc" : "exec";
}

/** Options of {@linkcode defaultNetnsPinner} and {@linkcode defaultPodNsPinner}. */
export interface DefaultPinnerOptions {
  /** The program of the `exec` pinners. @default "unshare" */
  unshare?: string;
  /** The program of the `exec` pod pinner. @default "nsenter" */
  nsenter?: string;
  /** Gets the `libc` pinners' debug records and the stranded error. */
  logger?: Logger;
}

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
 * The libc calls when this process makes namespaces in-process, else undefined: OCID_NETNS,
 * then whether FFI is permitted and libc opens (without an explicit `libc`, a libc that does
 * not open means `exec`).
 *
 * @throws {TypeError} When OCID_NETNS is invalid (see {@linkcode chooseNetnsKind}), or says
 *   `libc` and libc does not open.
 */
function chosenLibc(): NsLibc | undefined {
  const setting = readSetting();
  if (chooseNetnsKind({ os: Deno.build.os, setting, ffi: ffiPermitted() }) === "exec") {
    return undefined;
  }
  try {
    return openNsLibc();
  } catch (e) {
    if (setting === "libc") {
      throw new TypeError(`OCID_NETNS is "libc" but libc does not open: ${e}`, { cause: e });
    }
    return undefined;
  }
}

/**
 * The network namespace pinner of this process (see the module doc).
 *
 * @param runner Runs `unshare` when the program is used.
 * @param options The program and the logger.
 * @throws {TypeError} When OCID_NETNS is invalid (see {@linkcode chooseNetnsKind}).
 */
export function defaultNetnsPinner(
  runner: Runner,
  options: DefaultPinnerOptions = {},
): NetnsPinner {
  const libc = chosenLibc();
  return libc
    ? new ThreadNetnsPinner({ libc, ...(options.logger ? { logger: options.logger } : {}) })
    : new ExecNetnsPinner(runner, options.unshare ? { unshare: options.unshare } : {});
}

/**
 * The pods' IPC/UTS namespace pinner of this process, made the same way as the network
 * namespaces (see the module doc).
 *
 * @param runner Runs `unshare` when the program is used.
 * @param options The programs and the logger.
 * @throws {TypeError} When OCID_NETNS is invalid (see {@linkcode chooseNetnsKind}).
 */
export function defaultPodNsPinner(
  runner: Runner,
  options: DefaultPinnerOptions = {},
): PodNsPinner {
  const libc = chosenLibc();
  return libc
    ? new ThreadPodNsPinner({ libc, ...(options.logger ? { logger: options.logger } : {}) })
    : new ExecPodNsPinner(runner, {
      ...(options.unshare ? { unshare: options.unshare } : {}),
      ...(options.nsenter ? { nsenter: options.nsenter } : {}),
    });
}
