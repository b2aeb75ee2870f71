/**
 * Attach over a stream session: streams what the container prints from now on, read from
 * the CRI log file conmon writes (`<time> <stdout|stderr> <P|F> <text>`), until the container
 * exits or the client goes away. A rotated log file (new inode, or truncated) is reopened.
 *
 * Stdin is not supported: it needs conmon's SOCK_SEQPACKET attach socket, which Deno cannot
 * open without FFI socket calls; a request for stdin gets a clear error instead.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { CommandOutcome, RemoteCommandStreams } from "./remote_command.ts";
import type { AttachStreamRequest } from "./types.ts";

/** What an attach session uses. */
export interface AttachDeps {
  log: Logger;
  /** Whether the container is still running (read from the store). */
  isRunning(id: string): boolean;
  /** Time between looks at the log file when it has nothing new. @default 100 */
  pollMs?: number;
}

/** The container to attach to. */
export interface AttachTarget {
  id: string;
  logPath: string;
}

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
  const { request, streams, gone } = session;
  if (request.stdin) {
    return {
      kind: "error",
      message:
        `ocid cannot attach to the stdin of container "${target.id}"; attach without -i/--stdin`,
    };
  }
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
    deps.log.info("Attach session started", { id: target.id, following: target.logPath });
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
