/**
 * Spawns conmon and reads its answer from the sync pipe. This is the only file in ocid that
 * imports `node:child_process`: `Deno.Command` cannot hand a child an extra fd, and conmon
 * reports the container's pid (or the runtime's error) on fd 3 (`_OCI_SYNCPIPE=3`).
 *
 * conmon forks: the first process writes the daemon's pid to the `-P` pidfile and exits 0;
 * the daemon runs `<runtime> create`, then writes one JSON line on the sync pipe:
 * `{"data": <pid>}` (with `--api-version 1`), or a negative value and `"message"` on failure.
 *
 * @module
 */
import { spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { markFdsCloseOnExec } from "../sys/cloexec.ts";

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
  /** Complete environment of conmon; `_OCI_SYNCPIPE=3` is added. */
  env: Record<string, string>;
  /** Working directory (CRI-O uses the bundle). */
  cwd: string;
  /** Give up (and kill conmon) after this many milliseconds. @default 60000 */
  timeoutMs?: number;
}

/** A function with the signature of {@linkcode spawnConmon}; tests pass fakes. */
export type SpawnConmon = (
  path: string,
  args: string[],
  options: SpawnConmonOptions,
) => Promise<SpawnConmonResult>;

const MAX_CAPTURE = 64 * 1024;

/** bash: close fds > 3 (the sync pipe), then exec `$0 "$@"` (conmon and its args). */
const CLOSE_FDS_AND_EXEC = "for f in /proc/$$/fd/*; do n=${f##*/}; " +
  '[ "$n" -gt 3 ] 2>/dev/null && eval "exec $n>&-"; done; exec "$0" "$@"';

/**
 * The program and arguments that start conmon without the daemon's fds: conmon itself once
 * every daemon fd is close-on-exec, else a bash step that closes them and execs conmon.
 *
 * @param path conmon.
 * @param args Its arguments.
 * @param cloexec Whether the daemon's fds were all marked close-on-exec just now.
 */
export function conmonCommand(
  path: string,
  args: readonly string[],
  cloexec: boolean,
): { file: string; args: string[] } {
  if (cloexec) return { file: path, args: [...args] };
  return { file: "/bin/bash", args: ["-c", CLOSE_FDS_AND_EXEC, path, ...args] };
}

/**
 * Spawns conmon in its own process group, waits for its first process to exit and for the
 * sync-pipe message, and leaves the daemon running unreferenced (ocid may exit before it).
 *
 * @param path Path of the conmon binary.
 * @param args conmon's arguments; the pid of the daemon is read from the `-P` file in them.
 * @param options Environment, working directory and timeout.
 * @returns The sync message and the conmon daemon's pid.
 * @throws {Error} When conmon cannot be spawned, its first process fails, or the timeout
 * passes; the message carries conmon's stderr.
 */
export function spawnConmon(
  path: string,
  args: string[],
  options: SpawnConmonOptions,
): Promise<SpawnConmonResult> {
  const { env, cwd, timeoutMs = 60_000 } = options;
  const pidFile = conmonPidFileOf(args);
  try {
    Deno.statSync(path);
  } catch (err) {
    return Promise.reject(
      new Error(`Cannot spawn conmon "${path}": ENOENT: ${(err as Error).message}`, { cause: err }),
    );
  }
  // Deno's node:net listening socket (the CRI socket) and other daemon fds lack FD_CLOEXEC, so
  // a long-lived conmon would inherit them: after a kill -9 of ocid it keeps the CRI socket
  // "served" and the restart fails. Mark them all close-on-exec (one syscall) and exec conmon
  // directly; where that is unavailable, a bash step closes them first.
  const command = conmonCommand(path, args, markFdsCloseOnExec());
  const child = spawn(command.file, command.args, {
    stdio: ["pipe", "pipe", "pipe", "pipe"],
    env: { ...env, _OCI_SYNCPIPE: "3" },
    cwd,
    detached: true,
  });
  const stdin = child.stdio[0] as Writable | null;
  const outputs = [child.stdio[1], child.stdio[2]] as (Readable | null)[];
  const sync = child.stdio[3] as Readable | null;
  let captured = "";
  for (const stream of outputs) {
    stream?.on("data", (chunk: Uint8Array | string) => {
      if (captured.length < MAX_CAPTURE) captured += String(chunk);
    });
    stream?.on("error", () => {});
  }
  stdin?.on("error", () => {});
  stdin?.end();

  const firstExit = new Promise<{ code: number | null; signal: string | null }>(
    (resolve, reject) => {
      child.once("error", (err) => reject(err));
      child.once("exit", (code, signal) => resolve({ code, signal }));
    },
  );
  const syncLine = new Promise<string>((resolve) => {
    if (!sync) return resolve("");
    let buf = "";
    const done = () => resolve(buf);
    sync.on("data", (chunk: Uint8Array | string) => {
      buf += String(chunk);
      if (buf.includes("\n")) done();
    });
    sync.once("end", done);
    sync.once("close", done);
    sync.once("error", done);
  });

  const release = () => {
    for (const s of [stdin, ...outputs, sync]) s?.destroy();
    try {
      child.unref();
    } catch { /* never started (spawn error): nothing to unref */ }
  };
  const stderrText = () => captured.trim() || "no output";

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
      reject(new Error(`conmon did not answer within ${timeoutMs} ms: ${stderrText()}`));
    }, timeoutMs);
  });

  const work = (async () => {
    const exit = await firstExit;
    // Killed by the timeout: its exit may arrive while the timeout still kills conmon's daemon;
    // the answer is the timeout's, once that is done.
    if (timedOut) return await timeout;
    if (exit.code !== 0) {
      const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
      throw new Error(`conmon failed with ${how}: ${stderrText()}`);
    }
    const line = (await syncLine).split("\n")[0]?.trim() ?? "";
    const conmonPid = await readPid(pidFile);
    let syncMessage: SyncMessage = {};
    if (line !== "") {
      try {
        syncMessage = parseSyncMessage(line);
      } catch (err) {
        throw new Error(`conmon wrote an unreadable sync message "${line}"`, { cause: err });
      }
    } else if (captured.trim() !== "") {
      syncMessage = { message: captured.trim() };
    }
    return { syncMessage, conmonPid };
  })();

  // After a timeout `work` may still settle (the killed child exits): never unhandled.
  work.catch(() => {});
  return Promise.race([work, timeout]).finally(() => {
    clearTimeout(timer);
    release();
  });
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
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) !== "conmon") return;
    Deno.kill(pid, "SIGKILL");
  } catch { /* gone */ }
}
