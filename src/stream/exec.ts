/**
 * Exec over a stream session: runs `<runtime> exec --process <json> <id>` with the container's
 * environment, working directory, user and privileges (from the bundle's config.json, as
 * ExecSync does), and copies stdin, stdout and stderr between the process and the client's
 * SPDY streams. When the client goes away first, the process in the container and the
 * runtime are killed.
 *
 * The process spec and pid file of a session are the daemon's exec files (`<runroot>/exec`,
 * {@linkcode ExecFiles}), as ExecSync's: released when the session ends, however it ends, and
 * swept after a crash.
 *
 * @module
 */
import type { AttachWarmer } from "../cgroups/attach_warm.ts";
import type { Logger } from "../log.ts";
import { runtimeExecArgs } from "../oci/exec_args.ts";
import type { ExecFilePair, ExecFiles } from "../oci/exec_files.ts";
import { killExecAndReap } from "../oci/exec_kill.ts";
import type { ProcessSpec, ProcessTemplates } from "../oci/process_templates.ts";
import type { RemoteCommandStreams } from "./remote_command.ts";
import type { CommandOutcome } from "./remote_command.ts";
import type { SpawnedProcess, StreamSpawner } from "./spawn.ts";
import type { ExecStreamRequest, ExecTarget } from "./types.ts";

export type { ExecRuntime, ExecTarget } from "./types.ts";
import type { ChannelStream } from "./channel_stream.ts";
import type { TtyExec } from "./tty_exec.ts";

/** Where the process spec of an exec session comes from and where its files go. */
export interface ExecFileDeps {
  /** The daemon's exec files (shared with ExecSync and the sweep). */
  execFiles: ExecFiles;
  /** The containers' processes, the templates of their execs. */
  processes: ProcessTemplates;
}

/** What an exec session uses. */
export interface ExecDeps extends ExecFileDeps {
  /** runc or crun. */
  runtimePath: string;
  /** The runtime's `--root`. */
  runtimeRoot: string;
  spawner: StreamSpawner;
  log: Logger;
  /** Runs tty execs; absent: tty is refused with a clear error. */
  tty?: TtyExec;
  /** Warmed as the session begins (`../cgroups/attach_warm.ts`). @default none */
  attachWarmer?: AttachWarmer;
}

/**
 * The runtime binary and `--root` an exec session of `target` runs: its handler's (the sealed
 * copy when there is one), else the server's default.
 */
export async function execRuntime(
  deps: Pick<ExecDeps, "runtimePath" | "runtimeRoot">,
  target: Pick<ExecTarget, "runtime">,
): Promise<{ binary: string; root: string }> {
  const runtime = target.runtime;
  if (!runtime) return { binary: deps.runtimePath, root: deps.runtimeRoot };
  return { binary: await (runtime.launchPath?.() ?? runtime.path), root: runtime.root };
}

/** Time the output pipes get to reach EOF once the process exited. */
const DRAIN_GRACE_MS = 2_000;

/**
 * Builds the OCI process of an exec from the container's own process in config.json.
 *
 * @param template The `process` of the bundle's config.json.
 * @param cmd Command and arguments.
 * @param options.terminal Allocate a terminal.
 * @param options.consoleSize The terminal's first size (the runtime sets it before the
 * process starts).
 */
export function execProcessSpec(
  template: ProcessSpec,
  cmd: string[],
  options: { terminal: boolean; consoleSize?: { width: number; height: number } | undefined },
): Record<string, unknown> {
  const proc: Record<string, unknown> = { ...template };
  proc.terminal = options.terminal;
  proc.args = [...cmd];
  delete proc.consoleSize;
  if (options.terminal && options.consoleSize) {
    proc.consoleSize = { height: options.consoleSize.height, width: options.consoleSize.width };
  }
  return proc;
}

/**
 * Writes the process spec of an exec in the exec files; the caller releases them
 * ({@linkcode ExecFiles.release}) once the runtime has exited.
 *
 * @param deps The exec files and the process templates.
 * @param target The container.
 * @param cmd Command and arguments.
 * @param options As for {@linkcode execProcessSpec}.
 * @returns The process file and the pid file to pass to the runtime.
 * @throws {Deno.errors.NotFound} When the bundle has no config.json (nothing is written).
 */
export async function writeExecProcess(
  deps: ExecFileDeps,
  target: ExecTarget,
  cmd: string[],
  options: { terminal: boolean; consoleSize?: { width: number; height: number } | undefined },
): Promise<ExecFilePair> {
  const template = await deps.processes.get(target.bundle);
  return await deps.execFiles.create(target.id, execProcessSpec(template, cmd, options));
}

/**
 * Runs one exec session to its end.
 *
 * @param deps Runtime, spawner, logger, exec files.
 * @param target The container.
 * @param session The request, its streams, and a promise settled when the client goes away.
 * @returns What to report on the error stream.
 */
export async function runExec(
  deps: ExecDeps,
  target: ExecTarget,
  session: { request: ExecStreamRequest; streams: RemoteCommandStreams; gone: Promise<void> },
): Promise<CommandOutcome> {
  const { request, streams, gone } = session;
  deps.attachWarmer?.warm();
  if (request.tty) {
    if (!deps.tty) {
      return {
        kind: "error",
        message: "ocid cannot allocate a terminal for exec here; retry without -t/--tty",
      };
    }
    return await deps.tty.run(target, session);
  }
  const files = await writeExecProcess(deps, target, request.cmd, { terminal: false });
  try {
    const { binary, root } = await execRuntime(deps, target);
    const child = deps.spawner.spawn(
      binary,
      runtimeExecArgs(root, { id: target.id, ...files }),
      { stdin: !!streams.stdin, stdout: !!streams.stdout, stderr: !!streams.stderr },
    );
    const pumps = [
      pumpOut(child.stdout, streams.stdout),
      pumpOut(child.stderr, streams.stderr),
    ];
    void pumpIn(streams.stdin, child);
    let clientGone = false;
    const code = await Promise.race([
      child.status,
      gone.then(() => {
        clientGone = true;
        return undefined;
      }),
    ]);
    if (code === undefined || clientGone) {
      deps.log.info("Exec client went away; killing the process", { id: target.id });
      await killExec(files.pidFile, child);
      await child.status;
      return { kind: "error", message: "client went away" };
    }
    await drain(pumps, [child.stdout, child.stderr]);
    deps.log.debug("Exec done", { id: target.id, exitCode: code });
    return code === 0 ? { kind: "success" } : { kind: "exit", code, cmd: request.cmd };
  } finally {
    // The runtime has exited (or never started): the files are of no more use.
    deps.execFiles.release(files);
  }
}

/** Copies a process's output to a client stream; a client that stopped reading is ignored. */
export async function pumpOut(
  from: ReadableStream<Uint8Array> | null,
  to: ChannelStream | undefined,
): Promise<void> {
  if (!from) return;
  let clientOk = !!to;
  try {
    for await (const chunk of from) {
      if (!clientOk) continue;
      try {
        await to!.write(chunk);
      } catch {
        clientOk = false;
      }
    }
  } catch { /* cancelled */ }
}

/** Copies the client's stdin stream into a process; closes the process's stdin at its end. */
export async function pumpIn(
  from: ChannelStream | undefined,
  child: SpawnedProcess,
): Promise<void> {
  if (!from || !child.stdin) return;
  const writer = child.stdin.getWriter();
  try {
    for await (const chunk of from) await writer.write(chunk);
  } catch {
    /* the process closed its stdin */
  } finally {
    await writer.close().catch(() => {});
  }
}

async function drain(
  pumps: Promise<void>[],
  outputs: (ReadableStream<Uint8Array> | null)[],
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(pumps),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        // A background child in the container may hold the pipes open.
        for (const o of outputs) o?.cancel().catch(() => {});
        resolve();
      }, DRAIN_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
}

/** How long a kill waits for the runtime to write the exec'd process's pid file. */
const PID_FILE_WAIT_MS = 5_000;

/**
 * Kills the exec'd process (its process group when it leads one) from the runtime's pid file,
 * lets the runtime reap it and exit, and kills the runtime only if it lingers (see
 * {@linkcode killExecAndReap}). The pid file is waited for while the runtime lives, else a
 * quick disconnect would kill the runtime alone and leave the process running in the
 * container.
 */
export async function killExec(
  pidFile: string,
  child: { kill(s: Deno.Signal): void; status: Promise<number> },
): Promise<void> {
  await killExecAndReap(pidFile, child, { pidFileWaitMs: PID_FILE_WAIT_MS });
}
