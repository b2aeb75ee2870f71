/**
 * Starting a runc container without running runc. `runc create` leaves the container's init
 * (`runc init`) blocked in `open(2)` of the FIFO `<root>/<id>/exec.fifo` for writing; all that
 * `runc start` does for a created container is open that FIFO for reading, read it to its end
 * (init writes one byte and then execs the process, which closes its end), remove the FIFO (so
 * `runc state` says `running`) and, from runc 1.2 on, run the `poststart` hooks. The first three
 * are done here, in the daemon: no process is spawned for the start (the Go binary's own start
 * costs a few milliseconds, the whole of the start step).
 *
 * It is only done where it is exactly what `runc start` would do, and the caller runs
 * `runc start` otherwise ({@linkcode startByExecFifo} answers false):
 * - the runtime is runc (its features document names its version; crun's FIFO goes the other
 *   way: `crun start` writes), which the caller decides;
 * - the bundle's config.json has no `poststart` hooks (run by `runc start` from runc 1.2) and no
 *   `startContainer` hooks (run by init between its byte and the exec, so they could hold the
 *   read for as long as they run);
 * - the FIFO is there and the init process is alive and still runc's init (by its name, so that
 *   a reused pid does not count): a stopped or started container gets runc's own answer.
 *
 * A container whose init dies while the FIFO is opened gets runc's error (`container process is
 * already dead`): the wait for the writer is ended by opening the FIFO for writing here.
 *
 * @module
 */
import { join } from "node:path";
import { hasEnded, readProcStat } from "./proc_stat.ts";

/** What {@linkcode startByExecFifo} needs. */
export interface ExecFifoStart {
  /** The container's state dir: `<runtime root>/<id>`. */
  stateDir: string;
  /** Pid of the container's init (`runc init`), from the create. */
  pid: number;
  /** The container's bundle (its config.json is read for hooks). */
  bundle: string;
  /** How often the init's liveness is checked while the FIFO is opened. @default 100 */
  pollMs?: number;
  /**
   * How long the start may wait for the init (as `runc start` under the verb timeout). @default
   * 30000
   */
  timeoutMs?: number;
}

/** The hooks that `runc start` itself runs or waits for. */
const START_HOOKS = ["poststart", "startContainer"] as const;

/**
 * Whether a config.json asks for hooks that run at start (see the module doc); a document that
 * cannot be read counts as asking, so that `runc start` answers for it.
 */
export function hasStartHooks(configJson: string): boolean {
  let hooks: unknown;
  try {
    hooks = (JSON.parse(configJson) as { hooks?: unknown } | null)?.hooks;
  } catch {
    return true;
  }
  if (hooks === undefined || hooks === null) return false;
  if (typeof hooks !== "object") return true;
  return START_HOOKS.some((name) => {
    const list = (hooks as Record<string, unknown>)[name];
    return Array.isArray(list) ? list.length > 0 : list !== undefined && list !== null;
  });
}

/**
 * Whether `pid` is still the container's init waiting to start: alive (not a zombie) and named
 * as runc names it (`runc:[2:INIT]`), so that a pid reused by another process after the init
 * died does not count.
 */
async function initAlive(pid: number): Promise<boolean> {
  const stat = await readProcStat(pid);
  return stat !== undefined && stat.comm === INIT_COMM && !hasEnded(stat);
}

/** What runc calls its init process (`/proc/<pid>/comm`) until it execs the container's. */
export const INIT_COMM = "runc:[2:INIT]";

/** The error of a direct start, in runc's words. */
export class ExecFifoStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExecFifoStartError";
  }
}

/**
 * Starts a created runc container through its exec FIFO (see the module doc).
 *
 * @param start The container's state dir, init pid and bundle.
 * @returns true when the container was started; false when `runc start` must answer instead
 *   (hooks at start, no FIFO, no live init).
 * @throws {ExecFifoStartError} When the init died during the start, had written its byte for an
 *   earlier start, or did not go on within the timeout.
 */
export async function startByExecFifo(start: ExecFifoStart): Promise<boolean> {
  if (!(start.pid > 0)) return false;
  const fifo = join(start.stateDir, "exec.fifo");
  let configJson: string;
  try {
    configJson = await Deno.readTextFile(join(start.bundle, "config.json"));
  } catch {
    return false;
  }
  if (hasStartHooks(configJson)) return false;
  try {
    if (!(await Deno.lstat(fifo)).isFifo) return false;
  } catch {
    return false;
  }
  if (!(await initAlive(start.pid))) return false;
  // An init that lives on without going on (a frozen cgroup) would hold the read for ever: the
  // start gives up at the timeout, as `runc start` killed at the verb timeout would. The read
  // then ends only when the init goes on or dies, and does nothing more.
  const timeoutMs = start.timeoutMs ?? 30_000;
  let timedOut = false;
  let timeout: ReturnType<typeof setTimeout> | undefined;
  const reading = readExecFifo(fifo, start.pid, start.pollMs ?? 100, () => timedOut);
  // Given up on, its end (an error, most likely) is of no interest.
  reading.catch(() => {});
  try {
    await Promise.race([
      reading,
      new Promise((_, reject) => {
        timeout = setTimeout(() => {
          timedOut = true;
          reject(
            new ExecFifoStartError(
              `timed out after ${timeoutMs} ms waiting for the container's init to start`,
            ),
          );
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timeout);
  }
  return true;
}

/**
 * Opens the exec FIFO, reads it to its end and removes it (see the module doc). A start given up
 * (`abandoned()`) while the open still waits ends the wait.
 */
async function readExecFifo(
  fifo: string,
  pid: number,
  pollMs: number,
  abandoned: () => boolean,
): Promise<void> {
  // The open waits (on a thread of Deno's blocking pool) until init's open for writing, which
  // is already waiting. Should init die first, or the start be given up, the wait is ended by a
  // writer of our own, opened only while our reader is still open (so that it cannot wait
  // itself).
  const opening = Deno.open(fifo, { read: true });
  let opened = false;
  let unblocking: Promise<Deno.FsFile | undefined> | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = async () => {
    const live = await initAlive(pid);
    if (opened) return;
    if (live && !abandoned()) {
      timer = setTimeout(check, pollMs);
      Deno.unrefTimer(timer);
    } else {
      unblocking = Deno.open(fifo, { write: true }).catch(() => undefined);
    }
  };
  timer = setTimeout(check, pollMs);
  Deno.unrefTimer(timer);
  let file: Deno.FsFile;
  try {
    file = await opening;
  } finally {
    opened = true;
    clearTimeout(timer);
  }
  let data = 0;
  let unblocked = false;
  try {
    const unblocker = await unblocking;
    unblocked = unblocker !== undefined;
    unblocker?.close();
    const buf = new Uint8Array(16);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      data += n;
    }
  } finally {
    file.close();
  }
  // Given up on, a start that went on late still leaves runc's view right (the FIFO removed).
  if (data === 0) {
    const dead = unblocked || !(await initAlive(pid));
    throw new ExecFifoStartError(
      dead ? "container process is already dead" : "cannot start an already running container",
    );
  }
  await Deno.remove(fifo).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
}
