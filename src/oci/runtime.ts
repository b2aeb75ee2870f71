/**
 * The OCI runtime (runc or crun) behind one interface. `create` goes through conmon, which
 * stays as the container's monitor (logs, exit file, attach); the other verbs run the
 * runtime directly through the {@linkcode Runner} seam: `<runtime> --root <dir> <verb> ...`.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { NotFoundError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { nullLogger } from "../log.ts";
import { denoRunner, programPath, type Runner, text } from "../process.ts";
import { type CappedRunner, denoCappedRunner } from "./capped_run.ts";
import { conmonCreateArgs, conmonPidFile, containerPidFile } from "./conmon_args.ts";
import { type SpawnConmon, spawnConmon as defaultSpawnConmon } from "./conmon_spawn.ts";
import { CtlMessage, writeCtl } from "./ctl.ts";
import { runtimeExecArgs } from "./exec_args.ts";
import type { ExecFiles } from "./exec_files.ts";
import { killExecAndReap, readPidFile } from "./exec_kill.ts";
import { ProcessTemplates } from "./process_templates.ts";
import { deleteStopped } from "./direct_delete.ts";
import { startByExecFifo } from "./exec_fifo.ts";
import { type InitProcess, killInit, processStartTime } from "./direct_kill.ts";
import { hasEnded, readProcStat } from "./proc_stat.ts";
import { isNotExist, OciRuntimeError } from "./runtime_error.ts";
import { Limiter } from "../limit.ts";
import { exists } from "../exists.ts";
import { type AttachWarmer, noAttachWarmer } from "../cgroups/attach_warm.ts";
import type { SealedBinary } from "./sealed_binary.ts";

/** What `<runtime> state` reports. */
export interface RuntimeState {
  id: string;
  /** Pid of the container's init; 0 when stopped. */
  pid: number;
  /** `creating`, `created`, `running`, `paused` or `stopped`. */
  status: string;
  bundle: string;
  /** RFC 3339 creation time. */
  created?: string;
  annotations?: Record<string, string>;
}

/** What {@linkcode OciRuntime.create} made. */
export interface CreatedProcess {
  /** The container's init. */
  pid: number;
  /** Its conmon. */
  conmonPid: number;
  /**
   * The init's start time (`/proc/<pid>/stat`), read at once: with the pid, what
   * {@linkcode OciRuntime.kill} signals directly (`./direct_kill.ts`). Absent when it could not
   * be read.
   */
  startTime?: string;
}

/** Options of {@linkcode OciRuntime.kill}. */
export interface KillOptions {
  /** Every process of the container (`kill --all`), not only its init. */
  all?: boolean;
  /**
   * The init as created: without `all`, the signal is sent to it directly (`./direct_kill.ts`)
   * when it is still that process, with no runtime process.
   */
  init?: InitProcess;
}

/** What a start may use to start the container itself; see {@linkcode OciRuntime.start}. */
export interface StartOptions {
  /** Pid of the container's init, from the create. */
  pid: number;
  /** The container's bundle. */
  bundle: string;
}

/** Options of {@linkcode OciRuntime.create}. */
export interface CreateOptions {
  /** Container id; the runtime's name for it. */
  id: string;
  /** Bundle dir holding config.json and rootfs. */
  bundle: string;
  /** conmon `--persist-dir`: gets `exit`, `oom` and `conmon-pidfile`. Created if missing. */
  persistDir: string;
  /** Container log (CRI format). Its dir is created if missing. */
  logPath: string;
  /** conmon `-n`. @default id */
  name?: string;
  /** Allocate a terminal. */
  terminal?: boolean;
  /** Keep stdin open for attach. */
  stdin?: boolean;
  /** Close stdin after the first attach ends. */
  stdinOnce?: boolean;
  /** Log size limit in bytes. */
  logSizeMax?: number;
  /**
   * Cgroup parent of the pod. Recorded for the caller; conmon itself is not moved into it: the
   * container's cgroup comes from config.json.
   */
  cgroupParent?: string;
  /**
   * When given, conmon is spawned at once (the bundle dir and the log's dir must exist) and
   * runs the runtime only once `ready` resolves, when config.json and the rootfs are in place:
   * its start-up overlaps the caller's making of them. When `ready` rejects, create rejects
   * with that same error and leaves nothing (conmon killed before it forked, the log file it
   * opened removed when it made it).
   */
  ready?: Promise<void>;
  /**
   * The RuntimeClass handler whose runtime creates it ("" for the default). Only a router over
   * several runtimes (runtime_router.ts) reads it.
   */
  runtimeHandler?: string;
}

/** Options of {@linkcode OciRuntime.execSync}. */
export interface ExecSyncOptions {
  /** Command and arguments. */
  args: string[];
  /** `KEY=value` list; the container's env when absent. */
  env?: string[];
  /** Working dir; the container's when absent. */
  cwd?: string;
  /** User; the container's when absent. */
  user?: { uid: number; gid: number; additionalGids?: number[] };
  /** Kill the process after this many milliseconds. */
  timeoutMs: number;
  /** Kill the process when this aborts (the caller went away). */
  signal?: AbortSignal | undefined;
  /** Cap on stdout plus stderr. @default 16 MiB */
  maxOutputBytes?: number;
  /** The container's bundle; looked up with `state` when absent. */
  bundle?: string;
}

/** What {@linkcode OciRuntime.execSync} returns. */
export interface ExecSyncResult {
  /** The process's exit code (128 + signal when killed, e.g. 137 after a timeout). */
  exitCode: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The timeout passed; the process was killed. */
  timedOut: boolean;
  /** The output passed the cap; the process was killed and the output cut. */
  truncated: boolean;
}

/** Options of {@linkcode OciRuntime.reopenLog}. */
export interface ReopenLogOptions {
  /** The container's bundle; looked up with `state` when absent. */
  bundle?: string;
  /** When given, wait until conmon has re-created this file. */
  logPath?: string;
  /** Bound on that wait. @default 5000 */
  timeoutMs?: number;
}

/** An OCI runtime driven through conmon. */
export interface OciRuntime {
  /** Runtime name for messages: `runc` or `crun`. */
  readonly name: string;
  /**
   * Creates the container under a new conmon; the process waits in the `created` state.
   * On failure nothing is left: no runtime state, no conmon.
   *
   * @throws {OciRuntimeError} With the runtime's message.
   */
  create(opts: CreateOptions): Promise<CreatedProcess>;
  /**
   * Starts a created container. With `opts` (the init's pid and the bundle) a runc container
   * is started through its exec FIFO, without a `runc start` process (`./exec_fifo.ts`).
   *
   * @throws {NotFoundError} @throws {OciRuntimeError}
   */
  start(id: string, opts?: StartOptions): Promise<void>;
  /**
   * Sends a signal (`SIGTERM`, `KILL`, `9`, ...). A container no longer running is fine. With
   * `opts.init` and without `opts.all`, the init is signalled directly (`./direct_kill.ts`).
   *
   * @throws {NotFoundError} When the runtime does not know the container.
   */
  kill(id: string, signal: string, opts?: KillOptions): Promise<void>;
  /**
   * Deletes the runtime's state of the container; an unknown container is fine. A stopped runc
   * container is deleted by the daemon itself where that is all `runc delete` would do
   * (`./direct_delete.ts`).
   */
  delete(id: string, opts?: { force?: boolean }): Promise<void>;
  /** The runtime's state of the container, or undefined when it does not know it. */
  state(id: string): Promise<RuntimeState | undefined>;
  /** Every container the runtime knows under its root. */
  list(): Promise<RuntimeState[]>;
  /** Applies OCI `linux.resources` (`update --resources -`). */
  updateResources(id: string, resources: object): Promise<void>;
  /** Runs a process in the container and collects its capped output. */
  execSync(id: string, opts: ExecSyncOptions): Promise<ExecSyncResult>;
  /** Asks conmon to reopen the container's log file (after rotation). */
  reopenLog(id: string, opts?: ReopenLogOptions): Promise<void>;
  /** Whether a conmon process with this pid is alive. */
  conmonAlive(conmonPid: number): Promise<boolean>;
}

/** Options of {@linkcode createOciRuntime}. */
export interface OciRuntimeOptions {
  /** Path of runc or crun. */
  runtimePath: string;
  /** The runtime's state dir (`--root`). */
  runtimeRoot: string;
  /** Path of conmon. */
  conmonPath: string;
  /** Where conmon writes exit files. */
  exitDir: string;
  /** Where conmon links attach sockets. */
  socketDir: string;
  /** conmon `--log-level`. */
  logLevel: string;
  /** Where ExecSync puts its process and pid files (shared with the sweep). */
  execFiles: ExecFiles;
  /**
   * The containers' processes, the templates of execs (shared with the streaming exec).
   * @default a cache of this runtime's own
   */
  processes?: ProcessTemplates;
  runner?: Runner;
  cappedRunner?: CappedRunner;
  spawnConmon?: SpawnConmon;
  logger?: Logger;
  /** Timeout of each runtime verb. @default 30000 */
  verbTimeoutMs?: number;
  /**
   * Bounds the short verbs (kill, delete, state, start, ...) running at once; not `exec`, whose
   * process lives as long as its command. @default one limiter shared by every runtime of the
   * daemon, {@linkcode RUNTIME_VERB_LIMIT} places
   */
  verbs?: Limiter;
  /** Timeout of conmon + `create`. @default 120000 */
  createTimeoutMs?: number;
  /**
   * Whether the runtime is runc, whose state dir the runtime reads and acts on itself: `start`
   * only reads the container's exec FIFO (`./exec_fifo.ts`), and `delete` of a stopped container
   * removes its cgroups and state dir (`./direct_delete.ts`). The runtime's features name runc
   * (`runtime_features.ts`). A promise, as the features are asked while the daemon starts.
   * @default false
   */
  runcInternals?: boolean | Promise<boolean>;
  /**
   * Warmed as a `create` or an exec begins: runc moves a process into a cgroup in each, which
   * waits for an RCU grace period unless one has just passed (`../cgroups/attach_warm.ts`).
   * @default noAttachWarmer
   */
  attachWarmer?: AttachWarmer;
  /**
   * Where `create` (conmon's `-r`) and ExecSync run the runtime from: a sealed in-memory copy
   * for runc (`./sealed_binary.ts`). The other verbs run `runtimePath`. @default runtimePath
   */
  launchBinary?: SealedBinary;
}

/**
 * The most short runtime verbs running at once: four per CPU. Unbounded, a node stopping 300
 * containers at once (kubelet sends one StopContainer per container in parallel) ran 300
 * `runc kill` and then 300 `runc delete` together: on 2 CPUs the spawns alone held the JS thread
 * for seconds, exits waited behind them past the 10 s kill wait, and the 300 stops took 16 s.
 */
export const RUNTIME_VERB_LIMIT = Math.max(4, 4 * (navigator.hardwareConcurrency || 1));

/**
 * How long a short verb keeps its place: one still running after 5 s (a `runc` stuck on a
 * frozen cgroup or a process in D state) runs on uncounted until its own timeout (30 s), so
 * that it does not hold up the others. Under the 300-stop burst each verb took under 0.2 s.
 */
export const RUNTIME_VERB_HOLD_MS = 5_000;

/** The limiter the runtimes share unless given their own. */
const sharedVerbs = new Limiter(RUNTIME_VERB_LIMIT, { holdMs: RUNTIME_VERB_HOLD_MS });

/** Default cap of ExecSync output (CRI-O's, CVE-2022-1708). */
export const DEFAULT_EXEC_OUTPUT_CAP = 16 * 1024 * 1024;

/**
 * Creates an {@linkcode OciRuntime} for runc or crun.
 *
 * @param options Binaries, dirs and seams.
 * @returns The runtime.
 */
export function createOciRuntime(options: OciRuntimeOptions): OciRuntime {
  return new ConmonOciRuntime(options);
}

class ConmonOciRuntime implements OciRuntime {
  readonly name: string;
  #opts: OciRuntimeOptions;
  #runner: Runner;
  #capped: CappedRunner;
  #spawn: SpawnConmon;
  #logger: Logger;
  #verbTimeoutMs: number;
  #verbs: Limiter;
  #execFiles: ExecFiles;
  #processes: ProcessTemplates;
  #warmer: AttachWarmer;

  constructor(options: OciRuntimeOptions) {
    this.#opts = options;
    this.name = basename(options.runtimePath);
    this.#runner = options.runner ?? denoRunner;
    this.#capped = options.cappedRunner ?? denoCappedRunner;
    this.#spawn = options.spawnConmon ?? defaultSpawnConmon;
    this.#logger = options.logger ?? nullLogger;
    this.#verbTimeoutMs = options.verbTimeoutMs ?? 30_000;
    this.#verbs = options.verbs ?? sharedVerbs;
    this.#execFiles = options.execFiles;
    this.#processes = options.processes ?? new ProcessTemplates();
    this.#warmer = options.attachWarmer ?? noAttachWarmer;
  }

  async create(opts: CreateOptions): Promise<CreatedProcess> {
    this.#warmer.warm();
    const { id, bundle, persistDir, logPath } = opts;
    // Listened to at once: `ready` may fail before conmon is spawned (or when it cannot be).
    let readyError: { error: unknown } | undefined;
    const ready = opts.ready?.catch((error) => {
      readyError = { error };
      throw error;
    });
    ready?.catch(() => {});
    // Once more as the runtime is let go: its move into the cgroup comes after its own start-up.
    ready?.then(() => this.#warmer.warm(), () => {});
    // A call, so that the checks below are not narrowed away by the first one.
    const readyFailure = (): { error: unknown } | undefined => readyError;
    const o = this.#opts;
    const launchPath = this.#launchPath();
    // Stale files from an earlier attempt would report a false exit or pid. One round: a dir
    // being made holds nothing stale.
    await Promise.all([
      ...[persistDir, o.exitDir, o.socketDir, dirname(logPath)].map((d) =>
        Deno.mkdir(d, { recursive: true })
      ),
      ...[
        join(o.exitDir, id),
        join(persistDir, "exit"),
        join(persistDir, "oom"),
        conmonPidFile(persistDir),
        containerPidFile(bundle),
      ].map(removeIfExists),
    ]);
    const args = conmonCreateArgs({
      id,
      bundle,
      persistDir,
      logPath,
      runtimePath: await launchPath,
      runtimeRoot: o.runtimeRoot,
      exitDir: o.exitDir,
      socketDir: o.socketDir,
      logLevel: o.logLevel,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.terminal !== undefined ? { terminal: opts.terminal } : {}),
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
      ...(opts.stdinOnce !== undefined ? { stdinOnce: opts.stdinOnce } : {}),
      ...(opts.logSizeMax !== undefined ? { logSizeMax: opts.logSizeMax } : {}),
    });
    this.#logger.debug("Spawning conmon", { id, args: args.join(" ") });
    // conmon opens (and may create) the log file before it waits for `ready` and runs the
    // runtime: a create that fails takes away a log file it made.
    const logExisted = await exists(logPath);
    const removeNewLog = async () => {
      if (!logExisted) await removeIfExists(logPath).catch(() => {});
    };
    const early = readyFailure();
    if (early) throw early.error;
    const spawnStarted = performance.now();
    let result;
    try {
      result = await this.#spawn(o.conmonPath, args, {
        env: { PATH: programPath() },
        cwd: bundle,
        timeoutMs: o.createTimeoutMs ?? 120_000,
        ...(ready ? { ready } : {}),
      });
    } catch (err) {
      const failure = readyFailure();
      await removeNewLog();
      if (failure) throw failure.error;
      await this.#cleanupFailedCreate(id, await readPidFile(conmonPidFile(persistDir)));
      throw new OciRuntimeError(
        { runtime: this.name, verb: "create", id, stderr: errorMessage(err) },
        { cause: err },
      );
    }
    const { syncMessage, conmonPid } = result;
    this.#logger.debug("Ran program", {
      cmd: "conmon",
      verb: "create",
      ms: (performance.now() - spawnStarted).toFixed(2),
    });
    const pid = syncMessage.data ?? syncMessage.pid;
    if (pid === undefined || pid <= 0) {
      await this.#cleanupFailedCreate(id, conmonPid);
      await removeNewLog();
      throw new OciRuntimeError({
        runtime: this.name,
        verb: "create",
        id,
        stderr: syncMessage.message ?? "conmon closed the sync pipe without reporting a pid",
      });
    }
    // The init waits in the exec FIFO: the pid is surely the container's now.
    const startTime = await processStartTime(pid);
    return { pid, conmonPid, ...(startTime !== undefined ? { startTime } : {}) };
  }

  async #cleanupFailedCreate(id: string, conmonPid: number): Promise<void> {
    if (conmonPid > 0 && await this.conmonAlive(conmonPid)) {
      try {
        Deno.kill(conmonPid, "SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    try {
      await this.delete(id, { force: true });
    } catch (err) {
      this.#logger.warn("Cannot clean up after failed create", { id, err });
    }
    // conmon links <socket dir>/<id> to the bundle (for the attach socket) before it runs the
    // runtime, and may write an exit file: a retried failing creation would pile them up.
    for (const path of [join(this.#opts.socketDir, id), join(this.#opts.exitDir, id)]) {
      await removeIfExists(path).catch((err) =>
        this.#logger.warn("Cannot clean up after failed create", { id, path, err })
      );
    }
  }

  async start(id: string, opts?: StartOptions): Promise<void> {
    if (opts && await this.#opts.runcInternals) {
      const direct = await startByExecFifo({
        stateDir: join(this.#opts.runtimeRoot, id),
        pid: opts.pid,
        bundle: opts.bundle,
        timeoutMs: this.#verbTimeoutMs,
      }).catch((err) => {
        throw new OciRuntimeError({ runtime: this.name, verb: "start", id, stderr: err.message }, {
          cause: err,
        });
      });
      if (direct) return;
    }
    await this.#verb("start", id, [id]);
  }

  async kill(id: string, signal: string, opts: KillOptions = {}): Promise<void> {
    if (opts.init && !opts.all && (await killInit(opts.init, signal)) !== undefined) return;
    const res = await this.#exec(opts.all ? ["kill", "--all", id, signal] : ["kill", id, signal]);
    if (res.code === 0) return;
    const stderr = text(res.stderr);
    if (/not running|already finished|process already|no such process/i.test(stderr)) return;
    throw this.#error("kill", id, stderr);
  }

  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    if (await this.#opts.runcInternals) {
      // Anything the direct delete cannot do, or fails at, gets runc's own answer.
      const direct = await deleteStopped(join(this.#opts.runtimeRoot, id)).catch(() => undefined);
      if (direct) return;
    }
    const res = await this.#exec(opts.force ? ["delete", "--force", id] : ["delete", id]);
    if (res.code === 0) return;
    const stderr = text(res.stderr);
    if (isNotExist(stderr)) return;
    throw this.#error("delete", id, stderr);
  }

  async state(id: string): Promise<RuntimeState | undefined> {
    const res = await this.#exec(["state", id]);
    if (res.code !== 0) {
      const stderr = text(res.stderr);
      if (isNotExist(stderr)) return undefined;
      throw new OciRuntimeError({ runtime: this.name, verb: "state", id, stderr });
    }
    return parseState(text(res.stdout), `${this.name} state "${id}"`);
  }

  async list(): Promise<RuntimeState[]> {
    const res = await this.#exec(["list", "--format", "json"]);
    if (res.code !== 0) {
      throw new OciRuntimeError({
        runtime: this.name,
        verb: "list",
        id: "",
        stderr: text(res.stderr),
      });
    }
    const out = text(res.stdout).trim();
    if (out === "" || out === "null") return [];
    const raw = JSON.parse(out) as unknown;
    if (!Array.isArray(raw)) throw new Error(`${this.name} list printed no JSON array: ${out}`);
    return raw.map((r) => toState(r as Record<string, unknown>));
  }

  async updateResources(id: string, resources: object): Promise<void> {
    await this.#verb("update", id, ["--resources", "-", id], JSON.stringify(resources));
  }

  async execSync(id: string, opts: ExecSyncOptions): Promise<ExecSyncResult> {
    this.#warmer.warm();
    const bundle = opts.bundle ?? (await this.#requireState(id, "exec")).bundle;
    const proc: Record<string, unknown> = { ...(await this.#processes.get(bundle)) };
    proc.terminal = false;
    proc.args = opts.args;
    if (opts.env) proc.env = opts.env;
    if (opts.cwd) proc.cwd = opts.cwd;
    if (opts.user) proc.user = { ...opts.user };
    delete proc.consoleSize;

    const files = await this.#execFiles.create(id, proc);
    try {
      const execStarted = performance.now();
      const res = await this.#capped.run(
        await this.#launchPath(),
        runtimeExecArgs(this.#opts.runtimeRoot, { id, ...files }),
        {
          timeoutMs: opts.timeoutMs,
          signal: opts.signal,
          maxOutputBytes: opts.maxOutputBytes ?? DEFAULT_EXEC_OUTPUT_CAP,
          // The answer waits until the process and its group are dead and reaped.
          kill: async (program) => {
            const { left } = await killExecAndReap(files.pidFile, program);
            if (left.length > 0) {
              this.#logger.warn("Exec processes left unreaped after the kill", { id, pids: left });
            }
          },
        },
      );
      this.#logger.debug("Ran program", {
        cmd: this.name,
        verb: "exec",
        ms: (performance.now() - execStarted).toFixed(2),
      });
      return {
        exitCode: res.code,
        stdout: res.stdout,
        stderr: res.stderr,
        timedOut: res.timedOut,
        truncated: res.truncated,
      };
    } finally {
      // The runtime has exited (and reaped the process): the files are of no more use, and
      // the reply does not wait for their removal.
      this.#execFiles.release(files);
    }
  }

  async reopenLog(id: string, opts: ReopenLogOptions = {}): Promise<void> {
    const bundle = opts.bundle ?? (await this.#requireState(id, "reopen log")).bundle;
    writeCtl(bundle, { type: CtlMessage.reopenLog });
    if (opts.logPath === undefined) return;
    const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
    for (;;) {
      try {
        await Deno.stat(opts.logPath);
        return;
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      if (Date.now() > deadline) {
        throw new OciRuntimeError({
          runtime: "conmon",
          verb: "reopen log",
          id,
          stderr: `log file "${opts.logPath}" was not re-created`,
        });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async conmonAlive(conmonPid: number): Promise<boolean> {
    const stat = await readProcStat(conmonPid);
    return stat !== undefined && stat.comm === "conmon" && !hasEnded(stat);
  }

  #launchPath(): Promise<string> {
    return this.#opts.launchBinary?.path() ?? Promise.resolve(this.#opts.runtimePath);
  }

  async #requireState(id: string, verb: string): Promise<RuntimeState> {
    const st = await this.state(id);
    if (!st) throw new NotFoundError(`Cannot ${verb}: ${this.name} has no container "${id}"`);
    return st;
  }

  /** Runs a verb that must succeed; "does not exist" becomes NotFoundError. */
  async #verb(verb: string, id: string, rest: string[], stdin?: string): Promise<void> {
    const res = await this.#exec([verb, ...rest], stdin);
    if (res.code !== 0) throw this.#error(verb, id, text(res.stderr) || text(res.stdout));
  }

  #error(verb: string, id: string, stderr: string): Error {
    const err = new OciRuntimeError({ runtime: this.name, verb, id, stderr });
    if (isNotExist(stderr)) {
      return new NotFoundError(`Cannot ${verb} container "${id}": ${this.name} does not know it`, {
        cause: err,
      });
    }
    return err;
  }

  #exec(args: string[], stdin?: string) {
    return this.#verbs.run(() =>
      this.#runner.run(this.#opts.runtimePath, ["--root", this.#opts.runtimeRoot, ...args], {
        timeoutMs: this.#verbTimeoutMs,
        check: false,
        ...(stdin !== undefined ? { stdin } : {}),
      })
    );
  }
}

function parseState(out: string, what: string): RuntimeState {
  let raw: unknown;
  try {
    raw = JSON.parse(out);
  } catch (err) {
    throw new Error(`${what} printed no JSON: ${out.trim()}`, { cause: err });
  }
  return toState(raw as Record<string, unknown>);
}

function toState(raw: Record<string, unknown>): RuntimeState {
  const state: RuntimeState = {
    id: String(raw.id ?? ""),
    pid: typeof raw.pid === "number" ? raw.pid : 0,
    status: String(raw.status ?? "unknown"),
    bundle: String(raw.bundle ?? ""),
  };
  if (typeof raw.created === "string") state.created = raw.created;
  if (raw.annotations && typeof raw.annotations === "object") {
    state.annotations = raw.annotations as Record<string, string>;
  }
  return state;
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
