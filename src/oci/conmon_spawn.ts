/**
 * Spawns conmon and reads its answer from the sync pipe. conmon reports the container's pid (or
 * the runtime's error) on the fd that `_OCI_SYNCPIPE` names, and `Deno.Command` hands a child
 * only fds 0 to 2: the write end of a pipe made for the spawn is left inheritable under its own
 * number (`../sys/child_pipe.ts`), so conmon is spawned itself, with no other fd of the daemon.
 * Where that pipe cannot be made (no FFI, no `close_range`), a `/bin/bash` step closes the
 * daemon's fds, moves the stdout pipe to fd 3 (and stdout onto stderr), then execs conmon.
 * `Deno.Command` starts it with `posix_spawn` (a vfork), where `node:child_process` with a
 * fourth pipe, or `detached`, forks the whole daemon: 2 to 6 ms of the JS thread with a 100 MB
 * heap, plus copy-on-write faults after it (bench/spawn_cost.ts measures both).
 *
 * conmon forks: the first process writes the daemon's pid to the `-P` pidfile and exits 0;
 * the daemon calls `setsid` (so it leaves ocid's session and process group on its own), runs
 * `<runtime> create`, then writes one JSON line on the sync pipe: `{"data": <pid>}` (with
 * `--api-version 1`), or a negative value and `"message"` on failure.
 *
 * @module
 */
import { ChildPipe, spawnWithPipes } from "../sys/child_pipe.ts";
import { readProcStatSync } from "./proc_stat.ts";

/** The JSON line conmon writes on the sync pipe. */
export interface SyncMessage {
  /** The container's pid without `--api-version 1`. */
  pid?: number;
  /** The container's pid with `--api-version 1`; negative on failure. */
  data?: number;
  /** The runtime's stderr when it failed. */
  message?: string;
}

/** What {@linkcode spawnConmon} returns. */
export interface SpawnConmonResult {
  /** The sync-pipe message; `{}` when conmon closed the pipe without writing one. */
  syncMessage: SyncMessage;
  /** Pid of the conmon daemon (read from the `-P` pidfile); 0 when it wrote none. */
  conmonPid: number;
}

/** Options of {@linkcode spawnConmon}. */
export interface SpawnConmonOptions {
  /** Complete environment of conmon; `_OCI_SYNCPIPE` (and `_OCI_STARTPIPE`) are added. */
  env: Record<string, string>;
  /** Working directory (CRI-O uses the bundle). */
  cwd: string;
  /** Give up (and kill conmon) after this many milliseconds, from `ready` on. @default 60000 */
  timeoutMs?: number;
  /**
   * When given, conmon is spawned at once and waits on its start pipe (`_OCI_STARTPIPE`) until
   * `ready` resolves before it forks and runs the runtime: its start-up (exec, libraries,
   * options, the log file) overlaps the caller's making of the bundle. When `ready` rejects,
   * conmon (one process, nothing made but the log file it opened) is killed and spawnConmon
   * rejects with that same error. With the bash step, conmon is spawned once `ready` resolved.
   */
  ready?: Promise<void>;
}

/** A function with the signature of {@linkcode spawnConmon}; tests pass fakes. */
export type SpawnConmon = (
  path: string,
  args: string[],
  options: SpawnConmonOptions,
) => Promise<SpawnConmonResult>;

const MAX_CAPTURE = 64 * 1024;

/**
 * bash: the stdout pipe becomes fd 3 (the sync pipe), stdout joins stderr, every fd above 3
 * (the daemon's, left open by the spawn) is closed; then exec conmon.
 */
const SYNC_PIPE_CLOSE_FDS_AND_EXEC = "exec 3>&1 1>&2; for f in /proc/$$/fd/*; do n=${f##*/}; " +
  '[ "$n" -gt 3 ] 2>/dev/null && eval "exec $n>&-"; done; exec "$0" "$@"';

/**
 * How conmon is started: by itself when the sync pipe is inherited under its own fd
 * (`syncFd`), else through a `/bin/bash` step that closes the daemon's fds and gives it the
 * stdout pipe as fd 3 (dash cannot name fds above 9).
 *
 * @param path conmon.
 * @param args Its arguments.
 * @param syncFd The inherited sync pipe's fd, or null for the bash step.
 * @returns The program to spawn, its arguments, `_OCI_SYNCPIPE` and what stdout must be.
 */
export function conmonCommand(
  path: string,
  args: readonly string[],
  syncFd: number | null,
): { file: string; args: string[]; syncPipe: string; stdout: "null" | "piped" } {
  if (syncFd !== null) {
    return { file: path, args: [...args], syncPipe: `${syncFd}`, stdout: "null" };
  }
  return {
    file: "/bin/bash",
    args: ["-c", SYNC_PIPE_CLOSE_FDS_AND_EXEC, path, ...args],
    syncPipe: "3",
    stdout: "piped",
  };
}

/**
 * Spawns conmon, waits for its first process to exit and for the sync-pipe message, and leaves
 * the daemon running (ocid may exit before it). conmon's daemon makes its own session.
 *
 * @param path Path of the conmon binary.
 * @param args conmon's arguments; the pid of the daemon is read from the `-P` file in them.
 * @param options Environment, working directory, timeout, and what conmon waits for.
 * @returns The sync message and the conmon daemon's pid.
 * @throws {Error} When conmon cannot be spawned, its first process fails, or the timeout
 * passes; the message carries conmon's stderr.
 * @throws What `options.ready` rejected with, unchanged (conmon killed).
 */
export async function spawnConmon(
  path: string,
  args: string[],
  options: SpawnConmonOptions,
): Promise<SpawnConmonResult> {
  const { env, cwd, timeoutMs = 60_000 } = options;
  const pidFile = conmonPidFileOf(args);
  try {
    Deno.statSync(path);
  } catch (err) {
    throw new Error(`Cannot spawn conmon "${path}": ENOENT: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // Deno's node:net listening socket (the CRI socket) and other daemon fds lack FD_CLOEXEC, so
  // a long-lived conmon would inherit them: after a kill -9 of ocid it keeps the CRI socket
  // "served" and the restart fails. The pipes' spawn marks them all close-on-exec; the bash
  // step closes them.
  options.ready?.catch(() => {}); // a spawn that fails first never waits for it
  const syncPipe = ChildPipe.open(true);
  if (!syncPipe && options.ready) await options.ready;
  let startPipe: ChildPipe | null = null;
  let child: Deno.ChildProcess;
  try {
    if (syncPipe && options.ready) startPipe = ChildPipe.open(false);
    const command = conmonCommand(path, args, syncPipe?.childFd ?? null);
    const cmd = new Deno.Command(command.file, {
      args: command.args,
      cwd,
      env: {
        ...env,
        _OCI_SYNCPIPE: command.syncPipe,
        ...(startPipe ? { _OCI_STARTPIPE: `${startPipe.childFd}` } : {}),
      },
      clearEnv: true,
      stdin: "null",
      stdout: command.stdout,
      stderr: "piped",
    });
    child = syncPipe
      ? spawnWithPipes(startPipe ? [syncPipe, startPipe] : [syncPipe], () => cmd.spawn())
      : cmd.spawn();
  } catch (err) {
    syncPipe?.close();
    startPipe?.close();
    throw new Error(`Cannot spawn conmon "${path}": ${(err as Error).message}`, { cause: err });
  }
  const sync = readText(syncPipe ? syncPipe.file.readable : child.stdout, { untilNewline: true });
  const stderr = readText(child.stderr, { untilNewline: false });
  const stderrText = async () => (await stderr.text).trim() || "no output";
  // The sync pipe stays open in conmon's daemon: stop reading it. stderr has ended (the first
  // process exited, the daemon put /dev/null on it) unless conmon was killed.
  const release = () => {
    sync.cancel();
    stderr.cancel();
    syncPipe?.close();
  };

  if (startPipe) {
    try {
      await options.ready;
    } catch (err) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      release();
      startPipe.close();
      throw err;
    }
    // conmon goes on at one byte. One that died meanwhile makes the write fail (EPIPE); its
    // exit status and stderr, read below, say why.
    try {
      startPipe.file.writeSync(new Uint8Array([0]));
    } catch { /* told below */ }
    startPipe.close();
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(async () => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      const daemon = await readPid(pidFile);
      if (daemon > 0) killQuietly(daemon);
      await child.status;
      sync.cancel();
      stderr.cancel();
      reject(new Error(`conmon did not answer within ${timeoutMs} ms: ${await stderrText()}`));
    }, timeoutMs);
  });

  const work = (async () => {
    const exit = await child.status;
    // Killed by the timeout: its exit may arrive while the timeout still kills conmon's daemon;
    // the answer is the timeout's, once that is done.
    if (timedOut) return await timeout;
    if (!exit.success) {
      const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
      throw new Error(`conmon failed with ${how}: ${await stderrText()}`);
    }
    const line = (await sync.text).split("\n")[0]?.trim() ?? "";
    const conmonPid = await readPid(pidFile);
    if (line === "") {
      // The pipe closed without a message: conmon's daemon died; what it said is on stderr.
      const said = (await stderr.text).trim();
      return { syncMessage: said === "" ? {} : { message: said }, conmonPid };
    }
    try {
      return { syncMessage: parseSyncMessage(line), conmonPid };
    } catch (err) {
      throw new Error(`conmon wrote an unreadable sync message "${line}"`, { cause: err });
    }
  })();

  // After a timeout `work` may still settle (the killed child exits): never unhandled.
  work.catch(() => {});
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    release();
  }
}

/** A stream being read into text. */
interface TextRead {
  /** The text read, once the stream ends (or a newline came, or it was cancelled). */
  text: Promise<string>;
  /** Stops reading and releases the stream. */
  cancel(): void;
}

/**
 * Reads a child's pipe into text, keeping at most {@linkcode MAX_CAPTURE} characters.
 *
 * @param stream The pipe.
 * @param options `untilNewline`: stop after the first newline (the sync line).
 * @returns The text read and a way to stop.
 */
function readText(
  stream: ReadableStream<Uint8Array>,
  options: { untilNewline: boolean },
): TextRead {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (text.length < MAX_CAPTURE) text += decoder.decode(value, { stream: true });
        if (options.untilNewline && text.includes("\n")) break;
      }
    } catch { /* cancelled, or the pipe broke: what was read counts */ }
    return text;
  })();
  return { text: done, cancel: () => void reader.cancel().catch(() => {}) };
}

/**
 * Parses conmon's sync-pipe JSON line, keeping only the known fields.
 *
 * @param line One line such as `{"data": 123}` or `{"data": -1, "message": "..."}`.
 * @returns The message.
 * @throws {SyntaxError} When the line is not JSON.
 */
export function parseSyncMessage(line: string): SyncMessage {
  const raw = JSON.parse(line) as Record<string, unknown>;
  const out: SyncMessage = {};
  if (typeof raw.pid === "number") out.pid = raw.pid;
  if (typeof raw.data === "number") out.data = raw.data;
  if (typeof raw.message === "string") out.message = raw.message;
  return out;
}

function conmonPidFileOf(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-P" || a === "--conmon-pidfile") return args[i + 1];
    if (a?.startsWith("--conmon-pidfile=")) return a.slice("--conmon-pidfile=".length);
  }
  return undefined;
}

async function readPid(file: string | undefined): Promise<number> {
  if (!file) return 0;
  try {
    const n = Number.parseInt((await Deno.readTextFile(file)).trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}

/** Kills `pid` if it is still a conmon (the pidfile may be stale and the pid reused). */
function killQuietly(pid: number): void {
  if (readProcStatSync(pid)?.comm !== "conmon") return;
  try {
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}
