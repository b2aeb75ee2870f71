/**
 * Exec with a terminal (`kubectl exec -t`), the way CRI-O does it: ocid opens a host
 * pseudo-terminal ({@linkcode PtyMaster}) and runs `<runtime> exec` with its stdio on the
 * slave, which is also the runtime's controlling terminal:
 *
 * ```
 * setsid --wait sh -c 'exec 0<>"$0" 1>&0 2>&0; exec "$@"' /dev/pts/N runc --root R exec ...
 * ```
 *
 * (`sh` is a session leader without a terminal after `setsid`, so opening the slave makes it
 * the controlling terminal). The process spec says `terminal: true`, so the runtime opens a
 * second terminal inside the container (the process sees a real `/dev/pts/*` there: `tty`
 * and `test -t 0` work), and copies between the two. Ours is put in raw mode before the
 * runtime starts, so early stdin is neither echoed nor translated twice.
 *
 * Size: the session waits (at most `firstSizeWaitMs`) for the client's first resize message
 * and writes it as `process.consoleSize`, so the process starts with it (the runtime copies
 * our terminal's size into its own only after the process started). Later resize messages
 * set the size of ours (`TIOCSWINSZ`); the kernel signals SIGWINCH to the runtime, which
 * copies the size into the container's terminal, whose process then gets SIGWINCH.
 *
 * Output comes on the stdout stream only. The end of the client's stdin is sent as one
 * end-of-file character (^D), as a person would type it. When the client goes away, the
 * process (from the runtime's pid file) and the runtime are killed, and the terminal closed.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import { runtimeExecArgs } from "../oci/exec_args.ts";
import { PtyMaster, type WindowSize } from "../sys/pty.ts";
import {
  type ExecFileDeps,
  execRuntime,
  type ExecTarget,
  killExec,
  writeExecProcess,
} from "./exec.ts";
import {
  type CommandOutcome,
  type RemoteCommandStreams,
  ResizeDecoder,
  type TerminalSize,
} from "./remote_command.ts";
import type { StreamSpawner } from "./spawn.ts";
import type { ChannelStream } from "./channel_stream.ts";
import type { TtyExec } from "./tty_exec.ts";
import type { ExecStreamRequest } from "./types.ts";

/** The terminal a {@linkcode PtyExec} drives; {@linkcode PtyMaster} in production. */
export interface PtyTerminal {
  /** Path of the slave, opened by the runtime's wrapper. */
  readonly slavePath: string;
  resize(size: WindowSize): void;
  /** No echo, no line editing: the runtime's own terminal in the container does those. */
  makeRaw(): void;
  /** Output of the slave side; null at its end. */
  read(): Promise<Uint8Array | null>;
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** What a {@linkcode PtyExec} uses. */
export interface PtyExecDeps extends ExecFileDeps {
  /** runc or crun. */
  runtimePath: string;
  /** The runtime's `--root`. */
  runtimeRoot: string;
  spawner: StreamSpawner;
  log: Logger;
  /** Opens a terminal. @default PtyMaster.open */
  openPty?: () => PtyTerminal;
  /** util-linux `setsid`. @default "setsid" */
  setsidPath?: string;
  /**
   * How long to wait for the client's first size before starting the process, so that it
   * starts with the right size (kubectl sends one at once). @default 2000
   */
  firstSizeWaitMs?: number;
}

/** Time the terminal's output gets to reach its end once the process exited. */
const DRAIN_GRACE_MS = 2_000;
/** ^D: end of file for a terminal in canonical mode. */
const EOT = new Uint8Array([4]);
/** Runs `"$@"` with stdio on the terminal `$0`, which becomes the controlling terminal. */
const WRAPPER = 'exec 0<>"$0" 1>&0 2>&0; exec "$@"';

/** Runs execs with a terminal on a host pseudo-terminal. */
export class PtyExec implements TtyExec {
  #deps: PtyExecDeps;

  constructor(deps: PtyExecDeps) {
    this.#deps = deps;
  }

  /**
   * Runs one tty exec session to its end.
   *
   * @param target The container.
   * @param session The request, its streams, and a promise settled when the client goes away.
   * @returns What to report on the error stream.
   */
  async run(
    target: ExecTarget,
    session: { request: ExecStreamRequest; streams: RemoteCommandStreams; gone: Promise<void> },
  ): Promise<CommandOutcome> {
    const deps = this.#deps;
    const { request, streams, gone } = session;
    let clientGone = false;
    void gone.then(() => clientGone = true);
    const sizes = new SizeFollower(streams.resize);
    await sizes.first(gone, deps.firstSizeWaitMs ?? 2_000);
    if (clientGone) return { kind: "error", message: "client went away" };
    // The runtime copies our terminal's size into the container's only after the process
    // started: consoleSize sets it before.
    const files = await writeExecProcess(deps, target, request.cmd, {
      terminal: true,
      consoleSize: sizes.latest,
    });
    let pty: PtyTerminal | undefined;
    try {
      const { binary, root } = await execRuntime(deps, target);
      pty = (deps.openPty ?? PtyMaster.open)();
      const terminal = pty;
      // Raw before the runtime runs (it makes it raw too, later): stdin that comes early must
      // not be echoed or translated by this terminal.
      terminal.makeRaw();
      sizes.follow((size) => {
        try {
          terminal.resize(size);
        } catch (err) {
          deps.log.debug("Cannot resize the exec terminal", { id: target.id, error: err as Error });
        }
      });
      const child = deps.spawner.spawn(
        deps.setsidPath ?? "setsid",
        [
          "--wait",
          "sh",
          "-c",
          WRAPPER,
          terminal.slavePath,
          binary,
          ...runtimeExecArgs(root, { id: target.id, ...files }),
        ],
        { stdin: false, stdout: false, stderr: false },
      );
      const output = pumpTerminal(terminal, streams.stdout);
      void feedTerminal(streams.stdin, terminal);
      const code = await Promise.race([child.status, gone.then(() => undefined)]);
      if (code === undefined || clientGone) {
        deps.log.info("Exec client went away; killing the process", { id: target.id });
        await killExec(files.pidFile, child);
        await child.status;
        return { kind: "error", message: "client went away" };
      }
      // A background process in the container may keep the terminal open: give up after a grace.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        output,
        new Promise<void>((resolve) => timer = setTimeout(resolve, DRAIN_GRACE_MS)),
      ]);
      clearTimeout(timer);
      deps.log.debug("Exec with a terminal done", { id: target.id, exitCode: code });
      return code === 0 ? { kind: "success" } : { kind: "exit", code, cmd: request.cmd };
    } finally {
      // The runtime has exited (or never started): the files are of no more use.
      deps.execFiles.release(files);
      await pty?.close();
    }
  }
}

/** Copies the terminal's output to the client's stdout stream until the terminal ends. */
async function pumpTerminal(from: PtyTerminal, to: ChannelStream | undefined): Promise<void> {
  let clientOk = !!to;
  for (;;) {
    let chunk: Uint8Array | null;
    try {
      chunk = await from.read();
    } catch {
      return;
    }
    if (chunk === null) return;
    if (!clientOk) continue;
    try {
      await to!.write(chunk);
    } catch {
      clientOk = false;
    }
  }
}

/** Copies the client's stdin into the terminal; its end becomes one ^D. */
async function feedTerminal(from: ChannelStream | undefined, to: PtyTerminal): Promise<void> {
  if (!from) return;
  try {
    for await (const chunk of from) await to.write(chunk);
    await to.write(EOT);
  } catch { /* the terminal closed */ }
}

/**
 * Reads the resize stream: remembers the latest size and hands each to a listener once one
 * is set.
 */
export class SizeFollower {
  #latest: TerminalSize | undefined;
  #listener: ((size: TerminalSize) => void) | undefined;
  #firstSeen!: () => void;
  #first: Promise<void>;

  constructor(stream: ChannelStream | undefined) {
    this.#first = new Promise((resolve) => this.#firstSeen = resolve);
    if (!stream) {
      this.#firstSeen();
      return;
    }
    void this.#read(stream);
  }

  /** The latest size received, if any. */
  get latest(): TerminalSize | undefined {
    return this.#latest;
  }

  /**
   * Waits for the first size, the end of the resize stream, `gone`, or `maxMs`, whichever
   * comes first.
   */
  async first(gone: Promise<void>, maxMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#first,
      gone,
      new Promise<void>((resolve) => timer = setTimeout(resolve, maxMs)),
    ]);
    clearTimeout(timer);
  }

  /** Calls `listener` with the latest size now (if any) and with each later one. */
  follow(listener: (size: TerminalSize) => void): void {
    this.#listener = listener;
    if (this.#latest) listener(this.#latest);
  }

  async #read(stream: ChannelStream): Promise<void> {
    const decoder = new ResizeDecoder();
    try {
      for await (const chunk of stream) {
        for (const size of decoder.push(chunk)) {
          this.#latest = size;
          this.#firstSeen();
          this.#listener?.(size);
        }
      }
    } catch { /* the client went away */ }
    this.#firstSeen();
  }
}
