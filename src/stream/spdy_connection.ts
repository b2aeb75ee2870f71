/**
 * The server end of a SPDY/3.1 connection after an HTTP `Upgrade: SPDY/3.1`: the client
 * (client-go through docker/spdystream) opens every stream; the server answers each SYN_STREAM
 * with a SYN_REPLY, exchanges DATA, and half-closes with FIN.
 *
 * Flow control is not enforced, as in spdystream (which never sends WINDOW_UPDATE and
 * ignores those it gets): a sender that waited for window updates would stall after 64 KiB.
 * Back-pressure comes from the socket instead: writes wait for it to drain.
 *
 * @module
 */
import type { Duplex } from "node:stream";
import type { Logger } from "../log.ts";
import { nullLogger } from "../log.ts";
import {
  encodeFrame,
  FLAG_FIN,
  type Frame,
  FrameReader,
  GoAwayStatus,
  RstStatus,
  SpdyProtocolError,
} from "./spdy_frame.ts";
import { HeaderCodec, headerValue, type SpdyHeaders } from "./spdy_headers.ts";

/** Largest DATA payload sent in one frame. */
const MAX_DATA_CHUNK = 32 * 1024;

/**
 * Largest frame payload accepted from the client. client-go writes DATA in 32 KiB pieces and
 * small header blocks; a bigger frame would only make us buffer it whole.
 */
export const MAX_INBOUND_FRAME = 1024 * 1024;

/** Streams open at once per connection; more are refused (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const MAX_OPEN_STREAMS = 128;

/** Frames decoded but not yet handled above which the socket stops being read. */
const MAX_FRAME_BACKLOG = 256;

/** Client bytes queued on streams, not yet read by the session, above which reading stops. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * While reading is paused, a PING is sent this often: a paused socket does not see the
 * client hang up, but a write to a gone client fails and ends the connection.
 */
const PAUSED_PROBE_MS = 1_000;

/** How long a GOAWAY gets to reach a client before the socket is dropped. */
const GOAWAY_GRACE_MS = 1_000;

/** Options of {@linkcode SpdyConnection}. */
export interface SpdyConnectionOptions {
  /** Called for each stream the client opens, after its headers are decoded. */
  onStream: (stream: SpdyStream) => void;
  /** Bytes that arrived with the HTTP upgrade request, after its headers. */
  head?: Uint8Array;
  logger?: Logger;
  /** Streams open at once; more are refused with RST_STREAM. @default MAX_OPEN_STREAMS */
  maxStreams?: number;
  /**
   * Time without a frame either way after which the connection is closed (GOAWAY, then the
   * socket); 0 never. Our own probe PINGs to a paused client do not count. @default 0
   */
  idleTimeoutMs?: number;
}

/** The server end of one SPDY/3.1 connection. */
export class SpdyConnection {
  #socket: Duplex;
  #reader = new FrameReader({ maxPayload: MAX_INBOUND_FRAME });
  #codec = new HeaderCodec();
  #streams = new Map<number, SpdyStream>();
  #lastStreamId = 0;
  #inbound: Promise<void> = Promise.resolve();
  #outbound: Promise<void> = Promise.resolve();
  #onStream: (stream: SpdyStream) => void;
  #log: Logger;
  #closed = false;
  #goAwaySent = false;
  #closedPromise: Promise<void>;
  #resolveClosed!: () => void;
  #maxStreams: number;
  /** Frames queued on #inbound and not yet handled. */
  #backlog = 0;
  /** Client bytes waiting in stream queues. */
  #buffered = 0;
  #paused = false;
  #probe: ReturnType<typeof setInterval> | undefined;
  #nextPingId = 0;
  #dropTimer: ReturnType<typeof setTimeout> | undefined;
  #idleMs: number;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When a frame last went either way (ms since the epoch). */
  #lastActive = Date.now();

  /**
   * Takes over `socket` (already switched to SPDY/3.1).
   *
   * @param socket The upgraded socket.
   * @param options Stream callback, pending bytes, logger.
   */
  constructor(socket: Duplex, options: SpdyConnectionOptions) {
    this.#socket = socket;
    this.#onStream = options.onStream;
    this.#log = options.logger ?? nullLogger;
    this.#maxStreams = options.maxStreams ?? MAX_OPEN_STREAMS;
    this.#idleMs = options.idleTimeoutMs ?? 0;
    this.#closedPromise = new Promise((r) => this.#resolveClosed = r);
    socket.on("data", (chunk: Uint8Array) => this.#receive(chunk));
    socket.on("error", (err: Error) => this.#log.debug("Stream connection error", { error: err }));
    socket.on("close", () => this.#teardown());
    // The client half-closed: handle the frames it sent before, then end.
    socket.on("end", () => void this.#inbound.then(() => this.#teardown()));
    // The client may have hung up before the upgrade was handed over: no event will come.
    if (socket.destroyed) {
      this.#teardown();
      return;
    }
    if (this.#idleMs > 0) this.#idleTimer = setTimeout(() => this.#checkIdle(), this.#idleMs);
    if (options.head && options.head.length > 0) this.#receive(options.head);
    if (socket.readableEnded) void this.#inbound.then(() => this.#teardown());
  }

  /** Resolves once the socket is gone. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** True once the socket is gone or closing. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Sends GOAWAY, waits until queued frames are written, then ends the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#sendGoAway(GoAwayStatus.ok);
    await this.#outbound;
    this.#socket.end();
    this.#teardown(false);
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#socket.destroy();
    this.#teardown();
  }

  /**
   * Ends the connection for its streams. `destroySocket` false lets bytes already handed to
   * the socket reach the client first (after `end()`); the socket is dropped after a grace
   * period if the client does not close its side.
   */
  #teardown(destroySocket = true): void {
    if (this.#closed) {
      if (destroySocket) this.#socket.destroy();
      return;
    }
    this.#closed = true;
    clearInterval(this.#probe);
    clearTimeout(this.#idleTimer);
    for (const stream of this.#streams.values()) stream._gone();
    this.#streams.clear();
    this.#codec.close();
    if (destroySocket || this.#socket.destroyed) {
      this.#socket.destroy();
    } else {
      this.#dropTimer = setTimeout(() => this.#socket.destroy(), GOAWAY_GRACE_MS);
      this.#socket.once("close", () => clearTimeout(this.#dropTimer));
    }
    this.#resolveClosed();
  }

  /**
   * Closes the connection once nothing went either way for the idle time (kubelet's
   * StreamIdleTimeout); otherwise looks again when that time will have passed. The timer is
   * not reset per frame: activity only moves `#lastActive`.
   */
  #checkIdle(): void {
    if (this.#closed) return;
    const idle = Date.now() - this.#lastActive;
    if (idle < this.#idleMs) {
      this.#idleTimer = setTimeout(() => this.#checkIdle(), this.#idleMs - idle);
      return;
    }
    this.#log.info("Closing an idle stream connection", { idleMs: idle });
    this.#goAwayNow(GoAwayStatus.ok);
  }

  #receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    this.#lastActive = Date.now();
    let frames: Frame[];
    try {
      frames = this.#reader.push(chunk);
    } catch (err) {
      this.#protocolError(err);
      return;
    }
    for (const frame of frames) {
      this.#backlog++;
      this.#inbound = this.#inbound.then(() => this.#handle(frame)).catch((err) =>
        this.#protocolError(err)
      ).finally(() => {
        this.#backlog--;
        this.#flow();
      });
    }
    this.#flow();
  }

  /**
   * Stops reading the socket while frames or stream bytes pile up (a client that floods us
   * faster than we answer, or than the session consumes), and resumes once they are taken.
   */
  #flow(): void {
    if (this.#closed) return;
    const over = this.#backlog > MAX_FRAME_BACKLOG || this.#buffered > MAX_BUFFERED_BYTES;
    const under = this.#backlog <= MAX_FRAME_BACKLOG / 2 &&
      this.#buffered <= MAX_BUFFERED_BYTES / 2;
    if (over && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
      this.#probe = setInterval(() => this.#ping(), PAUSED_PROBE_MS);
    } else if (under && this.#paused) {
      this.#paused = false;
      clearInterval(this.#probe);
      this.#socket.resume();
    }
  }

  /** Sends a PING (even id: ours) past the queue, which may be stuck behind a full socket. */
  #ping(): void {
    if (this.#closed || this.#socket.destroyed || !this.#socket.writable) return;
    this.#nextPingId = (this.#nextPingId + 2) & 0x7ffffffe;
    this.#socket.write(encodeFrame({ type: "ping", id: this.#nextPingId }));
  }

  /** @internal Counts client bytes queued on (+) or taken from (-) a stream. */
  _buffered(delta: number): void {
    this.#buffered += delta;
    this.#flow();
  }

  /**
   * Ends the connection after a frame that breaks the protocol: GOAWAY (written at once, not
   * behind queued frames a stalled client may never read), then the socket is ended.
   */
  #protocolError(err: unknown): void {
    if (this.#closed) return;
    this.#log.info("Stream client broke the SPDY protocol; dropping the connection", {
      error: err as Error,
    });
    this.#goAwayNow(GoAwayStatus.protocolError);
  }

  /**
   * Writes GOAWAY at once (not behind queued frames a stalled client may never read), ends
   * the socket and tears the connection down.
   */
  #goAwayNow(status: number): void {
    this.#goAwaySent = true;
    const goAway = encodeFrame({ type: "goAway", lastGoodStreamId: this.#lastStreamId, status });
    if (!this.#socket.destroyed && this.#socket.writable) this.#socket.end(goAway);
    this.#teardown(false);
  }

  async #handle(frame: Frame): Promise<void> {
    if (this.#closed) return;
    switch (frame.type) {
      case "synStream": {
        const headers = await this.#codec.decompress(frame.headerBlock);
        const id = frame.streamId;
        if (id === 0 || id % 2 === 0 || id <= this.#lastStreamId) {
          throw new SpdyProtocolError(`Client opened stream ${id} out of order`);
        }
        this.#lastStreamId = id;
        if (this.#goAwaySent || this.#streams.size >= this.#maxStreams) {
          this.#log.debug("Refusing a stream", { id, open: this.#streams.size });
          await this._send(
            encodeFrame({ type: "rstStream", streamId: id, status: RstStatus.refusedStream }),
          );
          return;
        }
        const stream = new SpdyStream(this, id, headers);
        this.#streams.set(id, stream);
        if (frame.flags & FLAG_FIN) stream._remoteEnd();
        this.#onStream(stream);
        return;
      }
      case "data": {
        const stream = this.#streams.get(frame.streamId);
        if (!stream) {
          await this._send(
            encodeFrame({
              type: "rstStream",
              streamId: frame.streamId,
              status: RstStatus.invalidStream,
            }),
          );
          return;
        }
        if (frame.data.length > 0) stream._data(frame.data);
        if (frame.flags & FLAG_FIN) stream._remoteEnd();
        return;
      }
      case "headers":
        // Decoded to keep the compression context in step; nothing uses trailing headers.
        await this.#codec.decompress(frame.headerBlock);
        if (frame.flags & FLAG_FIN) this.#streams.get(frame.streamId)?._remoteEnd();
        return;
      case "synReply":
        await this.#codec.decompress(frame.headerBlock);
        return;
      case "rstStream":
        this.#streams.get(frame.streamId)?._reset(frame.status);
        return;
      case "ping":
        // Pings the client starts have odd ids; echo them. Ours (even) need no answer.
        if (frame.id % 2 === 1) await this._send(encodeFrame({ type: "ping", id: frame.id }));
        return;
      case "goAway":
      case "settings":
      case "windowUpdate":
      case "unknown":
        return;
    }
  }

  async #sendGoAway(status: number): Promise<void> {
    if (this.#goAwaySent || this.#closed) return;
    this.#goAwaySent = true;
    await this._send(
      encodeFrame({ type: "goAway", lastGoodStreamId: this.#lastStreamId, status }),
    ).catch(() => {});
  }

  /** @internal Forgets a stream that is closed both ways. */
  _forget(id: number): void {
    this.#streams.delete(id);
  }

  /** @internal Compresses headers in send order. */
  _compress(headers: SpdyHeaders): Promise<Uint8Array> {
    return this.#codec.compress(headers);
  }

  /**
   * @internal Queues bytes (or a function making them, run in queue order) and resolves once
   * the socket has taken them without exceeding its buffer.
   */
  _send(frame: Uint8Array | (() => Promise<Uint8Array>)): Promise<void> {
    const next = this.#outbound.then(async () => {
      if (this.#closed) throw new Error("The stream connection is closed");
      const bytes = typeof frame === "function" ? await frame() : frame;
      if (this.#closed) throw new Error("The stream connection is closed");
      this.#lastActive = Date.now();
      if (this.#socket.write(bytes)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.#socket.off("drain", done);
          this.#socket.off("close", done);
          resolve();
        };
        this.#socket.on("drain", done);
        this.#socket.on("close", done);
      });
    });
    this.#outbound = next.catch(() => {});
    return next;
  }
}

/** One stream of a {@linkcode SpdyConnection}, opened by the client. */
export class SpdyStream {
  /** The stream id (odd: client-initiated). */
  readonly id: number;
  /** The headers of the client's SYN_STREAM. */
  readonly headers: SpdyHeaders;
  #conn: SpdyConnection;
  #queue: Uint8Array[] = [];
  #waiter: (() => void) | undefined;
  #remoteEnded = false;
  #localEnded = false;
  #reset = false;
  #replied = false;
  /** The reader stopped iterating: later bytes are dropped. */
  #abandoned = false;
  #remoteEndedPromise: Promise<void>;
  #resolveRemoteEnded!: () => void;

  /** @internal Made by the connection. */
  constructor(conn: SpdyConnection, id: number, headers: SpdyHeaders) {
    this.#conn = conn;
    this.id = id;
    this.headers = headers;
    this.#remoteEndedPromise = new Promise((r) => this.#resolveRemoteEnded = r);
  }

  /** The first value of a header of the SYN_STREAM (names are case-insensitive). */
  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  /** Resolves when the client half-closed the stream, reset it, or the connection went away. */
  get remoteEnded(): Promise<void> {
    return this.#remoteEndedPromise;
  }

  /** True after a RST_STREAM either way, or when the connection is gone. */
  get isReset(): boolean {
    return this.#reset;
  }

  /** Sends the SYN_REPLY that accepts the stream; `fin` closes our half at once. */
  reply(options: { headers?: SpdyHeaders; fin?: boolean } = {}): Promise<void> {
    if (this.#replied || this.#reset) return Promise.resolve();
    this.#replied = true;
    const fin = options.fin ?? false;
    if (fin) this.#localEnded = true;
    const id = this.id;
    const p = this.#conn._send(async () =>
      encodeFrame({
        type: "synReply",
        streamId: id,
        flags: fin ? FLAG_FIN : 0,
        headerBlock: await this.#conn._compress(options.headers ?? {}),
      })
    );
    this.#maybeForget();
    return p;
  }

  /**
   * Sends bytes as DATA frames; resolves when the socket has taken them.
   *
   * @throws {Error} When the stream is closed our way or reset, or the connection is gone.
   */
  async write(data: Uint8Array | string): Promise<void> {
    if (this.#localEnded || this.#reset) throw new Error(`SPDY stream ${this.id} is closed`);
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let at = 0; at < bytes.length; at += MAX_DATA_CHUNK) {
      const part = bytes.subarray(at, Math.min(bytes.length, at + MAX_DATA_CHUNK));
      await this.#conn._send(
        encodeFrame({ type: "data", streamId: this.id, flags: 0, data: part }),
      );
    }
  }

  /** Half-closes our side (an empty DATA frame with FIN). Idempotent. */
  async end(): Promise<void> {
    if (this.#localEnded || this.#reset) return;
    this.#localEnded = true;
    this.#maybeForget();
    await this.#conn._send(
      encodeFrame({ type: "data", streamId: this.id, flags: FLAG_FIN, data: new Uint8Array(0) }),
    ).catch(() => {});
  }

  /** Aborts the stream both ways with RST_STREAM. */
  async reset(status: number = RstStatus.cancel): Promise<void> {
    if (this.#reset) return;
    this._reset(status);
    await this.#conn._send(encodeFrame({ type: "rstStream", streamId: this.id, status }))
      .catch(() => {});
  }

  /**
   * The bytes the client sends, until it half-closes (or resets) the stream. While they are
   * not read, the connection stops reading its socket past a limit; once the reader stops
   * iterating, later bytes are dropped.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      for (;;) {
        const chunk = this.#queue.shift();
        if (chunk) {
          this.#conn._buffered(-chunk.length);
          yield chunk;
          continue;
        }
        if (this.#remoteEnded) return;
        await new Promise<void>((resolve) => this.#waiter = resolve);
      }
    } finally {
      this.#abandoned = true;
      this.#drop();
    }
  }

  #drop(): void {
    let bytes = 0;
    for (const c of this.#queue) bytes += c.length;
    this.#queue = [];
    if (bytes > 0) this.#conn._buffered(-bytes);
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  #maybeForget(): void {
    if ((this.#localEnded && this.#remoteEnded) || this.#reset) this.#conn._forget(this.id);
  }

  /** @internal */
  _data(chunk: Uint8Array): void {
    if (this.#remoteEnded || this.#abandoned) return;
    this.#queue.push(chunk);
    this.#conn._buffered(chunk.length);
    this.#wake();
  }

  /** @internal */
  _remoteEnd(): void {
    if (this.#remoteEnded) return;
    this.#remoteEnded = true;
    this.#resolveRemoteEnded();
    this.#wake();
    this.#maybeForget();
  }

  /** @internal The peer reset the stream (or we did). */
  _reset(_status: number): void {
    this.#reset = true;
    this.#drop();
    this.#localEnded = true;
    this._remoteEnd();
    this.#conn._forget(this.id);
  }

  /** @internal The connection is gone. */
  _gone(): void {
    this.#reset = true;
    this.#localEnded = true;
    this._remoteEnd();
  }
}
