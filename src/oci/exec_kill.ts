/**
 * Killing a process that `<runtime> exec --pid-file <file>` started in a container, from the
 * pid the runtime writes there. runc writes the file only after the process has started,
 * and the process may already have printed by then: a caller that wants it gone (a timeout,
 * an output cap, a client that went away) waits a little for the file, else killing only the
 * runtime would leave the process running in the container.
 *
 * The runtime must outlive the process: `runc exec` is the process's parent and reaps it. Killed
 * together, the process is orphaned while it dies and stays a zombie wherever it lands (seen
 * here: `Z sleep` in the container after a timed-out ExecSync, which the conformance suite's
 * `pgrep sleep` finds). {@linkcode killExecAndReap} kills the process group, lets the runtime
 * reap its child and exit, and only then kills a runtime that lingers.
 *
 * @module
 */
import { readProcStat } from "./proc_stat.ts";

/** How long {@linkcode killExecProcess} waits for the pid file by default. */
const PID_FILE_WAIT_MS = 2_000;
/** How long the runtime gets to reap the killed process and exit by default. */
const REAP_GRACE_MS = 2_000;
/** How long {@linkcode killExecAndReap} waits for the process group to leave /proc. */
const GONE_WAIT_MS = 2_000;
/** Poll interval of the waits here. */
const POLL_MS = 10;

/** Options of {@linkcode killExecProcess}. */
export interface KillExecProcessOptions {
  /** How long to wait for the pid file to appear. @default 2000 */
  waitMs?: number;
  /**
   * Whether the runtime has exited (it will not write the file any more): stops waiting.
   * @default () => false
   */
  runtimeExited?: () => boolean;
}

/**
 * Kills the exec'd process with SIGKILL, and its whole process group when it leads one
 * (pgid === pid; runc's init calls setsid, so the process leads a group of its own and its
 * children stay in it unless they make their own), once its pid is in `pidFile`; the group
 * alone when the process has exited but left members. Does nothing when no pid came in time or
 * nothing of it is left. Leaves the runtime process itself to the
 * caller.
 *
 * @param pidFile The runtime's `--pid-file`.
 * @param options How long to wait for the file, and when to stop waiting early.
 * @returns What was signalled: the process group id as a negative number, the pid when the
 * process leads no group, or 0 when there was nothing to kill.
 */
export async function killExecProcess(
  pidFile: string,
  options: KillExecProcessOptions = {},
): Promise<number> {
  const { waitMs = PID_FILE_WAIT_MS, runtimeExited = () => false } = options;
  const deadline = Date.now() + waitMs;
  let pid = await readPidFile(pidFile);
  while (pid <= 0 && !runtimeExited() && Date.now() < deadline) {
    await sleep(POLL_MS);
    pid = await readPidFile(pidFile);
  }
  if (pid <= 0) return 0;
  const stat = await readProcStat(pid);
  // Gone, but children it left in its group (a shell's `cmd &`) may live on and hold the
  // output, which keeps `runc exec` copying until the timeout: they are killed too. The group
  // keeps the pid's number while any of them lives (the kernel hands it out to no other).
  if (!stat) return (await processesOf(-pid)).length > 0 ? killTarget(-pid) : 0;
  const target = stat.pgrp === pid ? -pid : pid;
  return killTarget(target);
}

/** SIGKILL to `target` (a pid, or a process group as a negative number); returns it. */
function killTarget(target: number): number {
  try {
    Deno.kill(target, "SIGKILL");
  } catch { /* gone */ }
  return target;
}

/** The runtime process of an exec, as {@linkcode killExecAndReap} needs it. */
export interface ExecRuntimeProcess {
  kill(signal: Deno.Signal): void;
  /** Settles when the runtime process has exited. */
  readonly status: Promise<unknown>;
}

/** Options of {@linkcode killExecAndReap}. */
export interface KillExecAndReapOptions {
  /** How long to wait for the pid file to appear. @default 2000 */
  pidFileWaitMs?: number;
  /** How long the runtime gets to reap the process and exit before SIGKILL. @default 2000 */
  reapGraceMs?: number;
  /** How long to wait until no process of the killed group is left in /proc. @default 2000 */
  goneWaitMs?: number;
}

/** What {@linkcode killExecAndReap} did. */
export interface KillExecAndReapResult {
  /** What was signalled (see {@linkcode killExecProcess}); 0 when nothing was. */
  target: number;
  /**
   * Pids of the killed group (or process) still in /proc when the wait ended, zombies
   * included: orphans whose new parent does not reap them (a container whose pid 1 never
   * calls wait).
   */
  left: number[];
}

/**
 * Ends an exec: SIGKILL to the exec'd process and its process group, then waits for the
 * runtime to reap it and exit (SIGKILL to the runtime after `reapGraceMs`), then waits until
 * no process of the group is left, zombies included. Processes that left the group (setsid)
 * are not found.
 *
 * @param pidFile The runtime's `--pid-file`.
 * @param runtime The `<runtime> exec` process.
 * @param options The waits.
 * @returns What was signalled and what is still there.
 */
export async function killExecAndReap(
  pidFile: string,
  runtime: ExecRuntimeProcess,
  options: KillExecAndReapOptions = {},
): Promise<KillExecAndReapResult> {
  const {
    pidFileWaitMs = PID_FILE_WAIT_MS,
    reapGraceMs = REAP_GRACE_MS,
    goneWaitMs = GONE_WAIT_MS,
  } = options;
  let exited = false;
  const status = runtime.status.then(() => exited = true, () => exited = true);
  const target = await killExecProcess(pidFile, {
    waitMs: pidFileWaitMs,
    runtimeExited: () => exited,
  });
  if (!(await settlesWithin(status, target === 0 ? 0 : reapGraceMs))) {
    try {
      runtime.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
    await status;
  }
  if (target === 0) return { target, left: [] };
  const deadline = Date.now() + goneWaitMs;
  let left = await processesOf(target);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(POLL_MS);
    left = await processesOf(target);
  }
  return { target, left };
}

/**
 * The pids in /proc that a kill of `target` reached: the members of process group `-target`,
 * or the process `target`. Zombies count.
 */
export async function processesOf(target: number): Promise<number[]> {
  if (target > 0) return (await readProcStat(target)) ? [target] : [];
  const pgid = -target;
  const found: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isSafeInteger(pid) || pid <= 0) continue;
    if ((await readProcStat(pid))?.pgrp === pgid) found.push(pid);
  }
  return found;
}

/**
 * Reads a pid file.
 *
 * @param path The file.
 * @returns The pid, or 0 when the file is missing, empty or holds no positive number.
 */
export async function readPidFile(path: string): Promise<number> {
  try {
    const n = Number.parseInt((await Deno.readTextFile(path)).trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return settled;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
