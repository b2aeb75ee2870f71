/**
 * Killing a process that `<runtime> exec --pid-file <file>` started in a container, from the
 * pid the runtime writes there. runc writes the file only after the process has started,
 * and the process may already have printed by then: a caller that wants it gone (a timeout,
 * an output cap, a client that went away) waits a little for the file, else killing only the
 * runtime would leave the process running in the container.
 *
 * @module
 */

/** How long {@linkcode killExecProcess} waits for the pid file by default. */
const PID_FILE_WAIT_MS = 2_000;

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
 * (pgid === pid), once its pid is in `pidFile`. Does nothing when no pid came in time or
 * the process is gone. Leaves the runtime process itself to the caller.
 *
 * @param pidFile The runtime's `--pid-file`.
 * @param options How long to wait for the file, and when to stop waiting early.
 */
export async function killExecProcess(
  pidFile: string,
  options: KillExecProcessOptions = {},
): Promise<void> {
  const { waitMs = PID_FILE_WAIT_MS, runtimeExited = () => false } = options;
  const deadline = Date.now() + waitMs;
  let pid = await readPidFile(pidFile);
  while (pid <= 0 && !runtimeExited() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    pid = await readPidFile(pidFile);
  }
  if (pid <= 0) return;
  let target = pid;
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) === pid) target = -pid; // pgid === pid: kill the whole group
  } catch { /* gone */ }
  try {
    Deno.kill(target, "SIGKILL");
  } catch { /* gone */ }
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
