/**
 * Signalling a container's init without running the runtime. `runc kill <id> <signal>` (no
 * `--all`) loads the container's state, checks that the init is still the process it started
 * (its pid and its start time in `/proc/<pid>/stat`, so that a pid reused after the init died
 * is never signalled) and sends the signal with `kill(2)`. The daemon does the same here with
 * the start time it read when the container was created: the stop of a container costs no runc
 * process (a Go binary's start, a few milliseconds).
 *
 * Only signals with a name Deno can send are sent this way; others (real-time ones such as
 * `SIGRTMIN+3`) are left to the runtime ({@linkcode denoSignal} answers undefined).
 *
 * @module
 */
import { signalNumber, SIGNALS } from "../signals.ts";
import { hasEnded, readProcStat } from "./proc_stat.ts";

/**
 * The Deno name of a signal as runc takes it (`TERM`, `SIGTERM`, `15`, any case), or undefined
 * for one that is not a standard signal on x86-64 (real-time signals, unknown names).
 */
export function denoSignal(signal: string): Deno.Signal | undefined {
  if (Deno.build.os !== "linux" || !["x86_64", "aarch64"].includes(Deno.build.arch)) {
    return undefined;
  }
  const n = signalNumber(signal);
  return n === undefined ? undefined : SIGNALS[n];
}

/**
 * A process's start time (field 22 of `/proc/<pid>/stat`, clock ticks since boot), or undefined
 * when the process is gone (or a zombie: it has ended).
 */
export async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readProcStat(pid);
  return stat && !hasEnded(stat) && stat.startTime !== "" ? stat.startTime : undefined;
}

/** The container's init as it was created: its pid and start time. */
export interface InitProcess {
  pid: number;
  /** From {@linkcode processStartTime} right after the create. */
  startTime: string;
}

/**
 * Sends `signal` to the init if it is still the process created (pid and start time).
 *
 * @returns `sent`; `gone` when the init ended (nothing to signal, as runc's "container not
 *   running"); undefined when the signal has no Deno name (the runtime must send it).
 */
export async function killInit(
  init: InitProcess,
  signal: string,
): Promise<"sent" | "gone" | undefined> {
  const name = denoSignal(signal);
  if (!name) return undefined;
  if ((await processStartTime(init.pid)) !== init.startTime) return "gone";
  try {
    Deno.kill(init.pid, name);
  } catch (err) {
    // Ended between the check and the signal.
    if (err instanceof Deno.errors.NotFound) return "gone";
    throw err;
  }
  return "sent";
}
