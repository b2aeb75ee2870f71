/**
 * The remotecommand protocol (exec and attach) over SPDY: the client opens one stream per
 * channel, each with a `streamType` header (`error`, `stdin`, `stdout`, `stderr`, `resize`);
 * the server waits for the ones the request asks for, runs, then reports the outcome on the
 * error stream: v4 as a JSON `metav1.Status`, v2/v3 as plain text (nothing on success).
 *
 * @module
 */
import type { ChannelStream } from "./channel_stream.ts";
import type { SpdyStream } from "./spdy_connection.ts";
import { RstStatus } from "./spdy_frame.ts";

/** The streams of one exec or attach session. */
export interface RemoteCommandStreams {
  error: ChannelStream;
  stdin?: ChannelStream;
  stdout?: ChannelStream;
  stderr?: ChannelStream;
  resize?: ChannelStream;
}

/** Which streams a session waits for. */
export interface ExpectedStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
  /** remotecommand version (2, 3 or 4); resize streams exist from 3 on. */
  version: number;
}

const TYPES = ["error", "stdin", "stdout", "stderr", "resize"] as const;
type StreamType = typeof TYPES[number];

/** How long the client gets to open its streams (kubelet's default). */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;

/**
 * Accepts the client's streams as they come and resolves once every expected one is open.
 * Streams of unknown or repeated types are refused with RST_STREAM.
 */
export class StreamCollector {
  #expected: Set<StreamType>;
  #streams: Partial<Record<StreamType, SpdyStream>> = {};
  #resolve!: (streams: RemoteCommandStreams) => void;
  #reject!: (err: Error) => void;
  #done = false;
  /** Resolves with the streams once all expected are open. */
  readonly ready: Promise<RemoteCommandStreams>;

  constructor(expected: ExpectedStreams) {
    const want: StreamType[] = ["error"];
    if (expected.stdin) want.push("stdin");
    if (expected.stdout) want.push("stdout");
    if (expected.stderr && !expected.tty) want.push("stderr");
    if (expected.tty && expected.version >= 3) want.push("resize");
    this.#expected = new Set(want);
    this.ready = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.ready.catch(() => {});
  }

  /** Handles one stream the client opened. */
  accept(stream: SpdyStream): void {
    const type = stream.header("streamtype") as StreamType | undefined;
    if (!type || !TYPES.includes(type) || this.#streams[type] || this.#done) {
      void stream.reset(RstStatus.refusedStream);
      return;
    }
    this.#streams[type] = stream;
    void stream.reply().catch(() => {});
    if ([...this.#expected].every((t) => this.#streams[t])) {
      this.#done = true;
      const s = this.#streams;
      this.#resolve({
        error: s.error!,
        ...(s.stdin ? { stdin: s.stdin } : {}),
        ...(s.stdout ? { stdout: s.stdout } : {}),
        ...(s.stderr ? { stderr: s.stderr } : {}),
        ...(s.resize ? { resize: s.resize } : {}),
      });
    }
  }

  /** Gives up waiting (timeout or the connection went away). */
  fail(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#reject(err);
  }

  /** Stream types still missing. */
  missing(): string[] {
    return [...this.#expected].filter((t) => !this.#streams[t]);
  }
}

/** The outcome of an exec or attach. */
export type CommandOutcome =
  | { kind: "success" }
  | { kind: "exit"; code: number; cmd: string[] }
  | { kind: "error"; message: string };

/**
 * The bytes written on the error stream for an outcome.
 *
 * @param outcome What happened.
 * @param version remotecommand version.
 * @returns The bytes, or undefined when nothing is written (success before v4).
 */
export function statusBytes(outcome: CommandOutcome, version: number): string | undefined {
  if (version >= 4) return JSON.stringify(statusObject(outcome));
  switch (outcome.kind) {
    case "success":
      return undefined;
    case "exit":
      return exitMessage(outcome.code, outcome.cmd);
    case "error":
      return outcome.message;
  }
}

function exitMessage(code: number, cmd: string[]): string {
  // The wording of kubelet's streaming server (Go's %v of the command slice).
  return `command terminated with non-zero exit code: error executing command [${
    cmd.join(" ")
  }], exit code ${code}`;
}

/** The `metav1.Status` of remotecommand v4 for an outcome. */
export function statusObject(outcome: CommandOutcome): Record<string, unknown> {
  switch (outcome.kind) {
    case "success":
      return { metadata: {}, status: "Success" };
    case "exit":
      return {
        metadata: {},
        status: "Failure",
        message: exitMessage(outcome.code, outcome.cmd),
        reason: "NonZeroExitCode",
        details: { causes: [{ reason: "ExitCode", message: String(outcome.code) }] },
      };
    case "error":
      return { metadata: {}, status: "Failure", message: outcome.message, reason: "InternalError" };
  }
}

/** A terminal size from a resize message. */
export interface TerminalSize {
  width: number;
  height: number;
}

/** The longest resize message kept while waiting for its end. */
export const MAX_RESIZE_MESSAGE = 1024;

/**
 * Splits the resize stream (a sequence of JSON objects `{"Width":80,"Height":24}`) into sizes.
 * Feed it chunks; it keeps an incomplete object for the next chunk.
 */
export class ResizeDecoder {
  #buffer = "";
  #decoder = new TextDecoder();

  /**
   * Adds bytes; returns the sizes now complete (malformed objects are skipped). An object is
   * taken from the last `{` before a `}`, so garbage before it does not hide it, and at most
   * {@linkcode MAX_RESIZE_MESSAGE} characters of an unfinished one are kept.
   */
  push(chunk: Uint8Array): TerminalSize[] {
    this.#buffer += this.#decoder.decode(chunk, { stream: true });
    const sizes: TerminalSize[] = [];
    for (;;) {
      const end = this.#buffer.indexOf("}");
      if (end < 0) {
        const start = this.#buffer.lastIndexOf("{");
        this.#buffer = start < 0 ? "" : this.#buffer.slice(start);
        if (this.#buffer.length > MAX_RESIZE_MESSAGE) this.#buffer = "";
        return sizes;
      }
      const start = this.#buffer.lastIndexOf("{", end);
      if (start < 0) {
        this.#buffer = this.#buffer.slice(end + 1);
        continue;
      }
      const text = this.#buffer.slice(start, end + 1);
      this.#buffer = this.#buffer.slice(end + 1);
      try {
        const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
        const width = Number(v.Width);
        const height = Number(v.Height);
        if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0) {
          sizes.push({ width: Math.min(width, 0xffff), height: Math.min(height, 0xffff) });
        }
      } catch { /* skip a malformed object */ }
    }
  }
}

/**
 * Writes the outcome on the error stream and half-closes every stream of the session.
 * Never throws: the client may be gone.
 */
export async function finishSession(
  streams: RemoteCommandStreams,
  options: { outcome: CommandOutcome; version: number },
): Promise<void> {
  const bytes = statusBytes(options.outcome, options.version);
  if (bytes !== undefined) await streams.error.write(bytes).catch(() => {});
  await Promise.all(
    [streams.error, streams.stdout, streams.stderr, streams.stdin, streams.resize].map((s) =>
      s?.end()
    ),
  );
}
