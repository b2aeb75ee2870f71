/**
 * Attach over a stream session: streams what the container prints from now on, read from
 * the CRI log file conmon writes (`<time> <stdout|stderr> <P|F> <text>`), until the container
 * exits or the client goes away. A rotated log file (new inode, or truncated) is reopened.
 *
 * Stdin goes through conmon's attach socket (`<bundle>/attach`, SOCK_SEQPACKET, opened through
 * FFI: {@linkcode SeqpacketConn}): each packet written there is written to the container's
 * stdin (conmon keeps a stdin pipe when the container was created with `stdin`). conmon also
 * sends the output on that socket (each packet led by a stream byte); it is read and dropped,
 * since the log carries it. The end of the client's stdin half-closes the socket: conmon then
 * closes the container's stdin when the container was created with `stdin_once`.
 *
 * With a terminal, each size the client sends on its resize stream (`kubectl attach -it` on a
 * window that changes) goes to conmon's control fifo (`<bundle>/ctl`), which resizes the
 * container's terminal, as CRI-O does; the first one as soon as the session starts.
 *
 * @module
 */
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { SeqpacketConn } from "../sys/seqpacket.ts";
import type { ChannelStream } from "./channel_stream.ts";
import type { CommandOutcome, RemoteCommandStreams, TerminalSize } from "./remote_command.ts";
import { SizeFollower } from "./pty_exec.ts";
import type { AttachStreamRequest } from "./types.ts";

/** What an attach session uses. */
export interface AttachDeps {
  log: Logger;
  /** Whether the container is still running (read from the store). */
  isRunning(id: string): boolean;
  /** Time between looks at the log file when it has nothing new. @default 100 */
  pollMs?: number;
  /** Connects to conmon's attach socket. @default SeqpacketConn.connect */
  connectAttach?: (path: string) => AttachSocket;
  /** Resizes the container's terminal (conmon's control fifo in the bundle). */
  resize?: (bundle: string, size: TerminalSize) => void;
}

/** conmon's attach socket as attach uses it. */
export interface AttachSocket {
  /** One packet; null at the end. */
  read(): Promise<Uint8Array | null>;
  /** Sends one packet. */
  write(bytes: Uint8Array): Promise<void>;
  /** Half-closes: conmon sees the end of stdin. */
  closeWrite(): void;
  close(): Promise<void>;
}

/** The container to attach to. */
export interface AttachTarget {
  id: string;
  logPath: string;
  /** The bundle, where conmon binds its attach socket (needed for stdin). */
  bundle?: string;
}

/** The largest stdin packet sent to conmon (it reads packets into a 32 KiB buffer). */
const STDIN_PACKET_MAX = 8_192;

/** One line of a CRI log file. */
export interface CriLogLine {
  stream: "stdout" | "stderr";
  /** False for a partial line (`P`): no newline follows its text. */
  full: boolean;
  text: Uint8Array;
}

const encoder = new TextEncoder();

/**
 * Parses one line of a CRI log file (without its newline).
 *
 * @returns The line, or undefined when it is not in CRI format.
 */
export function parseCriLogLine(line: Uint8Array): CriLogLine | undefined {
  const sp1 = line.indexOf(0x20);
  if (sp1 < 0) return undefined;
  const sp2 = line.indexOf(0x20, sp1 + 1);
  if (sp2 < 0) return undefined;
  const stream = new TextDecoder().decode(line.subarray(sp1 + 1, sp2));
  if (stream !== "stdout" && stream !== "stderr") return undefined;
  const sp3 = line.indexOf(0x20, sp2 + 1);
  const tag = new TextDecoder().decode(line.subarray(sp2 + 1, sp3 < 0 ? line.length : sp3));
  const text = sp3 < 0 ? new Uint8Array(0) : line.subarray(sp3 + 1);
  return { stream, full: !tag.split(":").includes("P"), text };
}

/**
 * Splits log file bytes into lines; keeps an unfinished line for the next chunk.
 */
export class LineSplitter {
  #rest: Uint8Array = new Uint8Array(0);

  /** Adds bytes; returns the complete lines (without newline). */
  push(chunk: Uint8Array): Uint8Array[] {
    const buf = this.#rest.length ? concat(this.#rest, chunk) : chunk;
    const lines: Uint8Array[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) break;
      lines.push(buf.subarray(start, nl));
      start = nl + 1;
    }
    this.#rest = buf.slice(start);
    return lines;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Runs one attach session to its end.
 *
 * @returns What to report on the error stream.
 */
export async function runAttach(
  deps: AttachDeps,
  target: AttachTarget,
  session: { request: AttachStreamRequest; streams: RemoteCommandStreams; gone: Promise<void> },
): Promise<CommandOutcome> {
  const { request, streams } = session;
  let socket: AttachSocket | undefined;
  if (request.stdin && streams.stdin) {
    if (!target.bundle) {
      return { kind: "error", message: `Cannot attach to the stdin of container "${target.id}"` };
    }
    try {
      socket = (deps.connectAttach ?? SeqpacketConn.connect)(join(target.bundle, "attach"));
    } catch (err) {
      return {
        kind: "error",
        message: `Cannot attach to the stdin of container "${target.id}": ${
          (err as Error).message
        }`,
      };
    }
  }
  if (request.tty && streams.resize && target.bundle && deps.resize) {
    const { bundle, id } = target;
    const resize = deps.resize;
    new SizeFollower(streams.resize).follow((size) => {
      try {
        resize(bundle, size);
      } catch (err) {
        deps.log.debug("Cannot resize the attached terminal", { id, error: err as Error });
      }
    });
  }
  const stdin = streams.stdin;
  // Stdin flows once the log is open at its end, so no answer to it is missed.
  const started = () => {
    if (!socket || !stdin) return;
    void dropOutput(socket);
    void feedStdin(stdin, socket);
  };
  try {
    return await followLog(deps, target, { ...session, started });
  } finally {
    await socket?.close();
  }
}

/** Reads and drops what conmon sends on the attach socket, so that it never blocks on us. */
async function dropOutput(socket: AttachSocket): Promise<void> {
  try {
    while (await socket.read() !== null) { /* the log carries the output */ }
  } catch { /* closed */ }
}

/** Copies the client's stdin into the attach socket in small packets; half-closes at its end. */
async function feedStdin(from: ChannelStream, socket: AttachSocket): Promise<void> {
  try {
    for await (const chunk of from) {
      for (let at = 0; at < chunk.length; at += STDIN_PACKET_MAX) {
        await socket.write(chunk.subarray(at, at + STDIN_PACKET_MAX));
      }
    }
    socket.closeWrite();
  } catch { /* the socket closed */ }
}

async function followLog(
  deps: AttachDeps,
  target: AttachTarget,
  session: {
    request: AttachStreamRequest;
    streams: RemoteCommandStreams;
    gone: Promise<void>;
    started: () => void;
  },
): Promise<CommandOutcome> {
  const { request, streams, gone } = session;
  const pollMs = deps.pollMs ?? 100;
  let clientGone = false;
  void gone.then(() => clientGone = true);
  let file: Deno.FsFile | undefined;
  let ino = -1;
  let position = 0;
  const splitter = new LineSplitter();
  const open = async (atEnd: boolean) => {
    file?.close();
    file = undefined;
    try {
      file = await Deno.open(target.logPath, { read: true });
      const st = await file.stat();
      ino = st.ino ?? -1;
      position = atEnd ? st.size : 0;
      await file.seek(position, Deno.SeekMode.Start);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  };
  const buf = new Uint8Array(64 * 1024);
  const send = async (line: CriLogLine) => {
    const out = request.tty || line.stream === "stdout" ? streams.stdout : streams.stderr;
    if (!out) return;
    await out.write(line.full ? concat(line.text, encoder.encode("\n")) : line.text);
  };
  try {
    await open(true);
    deps.log.info("Attach session started", {
      id: target.id,
      following: target.logPath,
      ...(request.auditRequestId ? { auditRequestId: request.auditRequestId } : {}),
    });
    session.started();
    for (;;) {
      if (clientGone) return { kind: "error", message: "client went away" };
      const running = deps.isRunning(target.id);
      let n: number | null = null;
      if (file) n = await file.read(buf);
      if (n !== null && n > 0) {
        position += n;
        for (const raw of splitter.push(buf.subarray(0, n))) {
          const line = parseCriLogLine(raw);
          if (line) await send(line);
        }
        continue;
      }
      if (!running) return { kind: "success" };
      // Nothing new: has the file been rotated or truncated?
      try {
        const st = await Deno.stat(target.logPath);
        if (!file || (st.ino ?? -1) !== ino || st.size < position) {
          await open(false);
          continue;
        }
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      await Promise.race([new Promise((r) => setTimeout(r, pollMs)), gone]);
    }
  } catch (err) {
    deps.log.warn("Attach failed", { id: target.id, error: err as Error });
    return { kind: "error", message: `Cannot follow the log of container "${target.id}": ${err}` };
  } finally {
    file?.close();
  }
}
