/**
 * Kubernetes' channel protocols over one WebSocket (k8s.io/apimachinery wsstream): every
 * message starts with its channel number -- a byte (`channel.k8s.io`, `v4.channel.k8s.io`,
 * `v5.channel.k8s.io`) or an ASCII digit followed by base64 (`base64.channel.k8s.io`,
 * `v4.base64.channel.k8s.io`). In v5 a message on channel 255 carrying a channel number closes
 * that channel (the client's end of stdin). Messages for unknown channels, and undecodable
 * base64, are dropped, as wsstream does.
 *
 * {@linkcode WsChannels} turns the socket into {@linkcode ChannelStream}s (`end` stops reading
 * the channel, as the wire has no per-channel end): writes wait for the
 * socket to take the message (a client that stops reading holds the writer, as with SPDY), and
 * the socket is paused while the client's unread bytes exceed {@linkcode WS_READ_WINDOW}.
 *
 * @module
 */
// @ts-types="@types/ws"
import type { RawData, WebSocket } from "ws";
import type { ChannelStream } from "./channel_stream.ts";

/** Bytes received and not yet read by the session, above which the socket stops being read. */
export const WS_READ_WINDOW = 256 * 1024;

/** The v5 channel that carries close signals. */
export const CLOSE_CHANNEL = 255;

/** How a negotiated subprotocol frames messages. */
export interface WsFraming {
  /** base64 text messages with an ASCII channel digit, else binary with a channel byte. */
  base64: boolean;
  /** v5: channel 255 closes a channel. */
  closeSignal: boolean;
}

/** The framing of a channel subprotocol ("" is the binary protocol without version). */
export function framingOf(protocol: string): WsFraming {
  return {
    base64: protocol.includes("base64."),
    closeSignal: protocol.startsWith("v5."),
  };
}

/**
 * Splits one message into channel and payload.
 *
 * @returns undefined for an empty message or undecodable base64
 */
export function decodeMessage(
  data: Uint8Array,
  framing: WsFraming,
): { channel: number; payload: Uint8Array } | undefined {
  if (data.length === 0) return undefined;
  if (!framing.base64) return { channel: data[0]!, payload: data.subarray(1) };
  const channel = data[0]! - 0x30;
  const text = new TextDecoder().decode(data.subarray(1));
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return { channel, payload: Uint8Array.from(atob(text), (c) => c.charCodeAt(0)) };
}

/** Frames a payload for a channel. */
export function encodeMessage(
  channel: number,
  payload: Uint8Array,
  framing: WsFraming,
): Uint8Array | string {
  if (framing.base64) {
    let binary = "";
    for (let i = 0; i < payload.length; i += 0x8000) {
      binary += String.fromCharCode(...payload.subarray(i, i + 0x8000));
    }
    return String.fromCharCode(0x30 + channel) + btoa(binary);
  }
  const out = new Uint8Array(payload.length + 1);
  out[0] = channel;
  out.set(payload, 1);
  return out;
}

/** One channel's queue of received bytes. */
class Inbox {
  queue: Uint8Array[] = [];
  ended = false;
  wake: (() => void) | undefined;
  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/** The channels of one WebSocket. */
export class WsChannels {
  #ws: WebSocket;
  #framing: WsFraming;
  #inboxes = new Map<number, Inbox>();
  #buffered = 0;
  #paused = false;
  #closed: Promise<void>;
  #isClosed = false;
  #idleMs: number;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** Restarts the idle timer: the socket is dropped after `idleTimeoutMs` without a message. */
  #touch(): void {
    if (this.#idleMs <= 0) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.#ws.terminate(), this.#idleMs);
  }

  /**
   * @param ws an open socket
   * @param framing from the negotiated subprotocol
   * @param readable the channels the client may write to; others' messages are dropped
   * @param options.idleTimeoutMs drop the socket after this long without a message either way
   *   (0: never)
   */
  constructor(
    ws: WebSocket,
    framing: WsFraming,
    readable: readonly number[],
    options: { idleTimeoutMs?: number } = {},
  ) {
    this.#ws = ws;
    this.#framing = framing;
    this.#idleMs = options.idleTimeoutMs ?? 0;
    this.#touch();
    for (const n of readable) this.#inboxes.set(n, new Inbox());
    this.#closed = new Promise((resolve) => {
      ws.once("close", () => {
        this.#isClosed = true;
        clearTimeout(this.#idleTimer);
        for (const inbox of this.#inboxes.values()) {
          inbox.ended = true;
          inbox.notify();
        }
        resolve();
      });
    });
    ws.on("message", (data: RawData) => this.#receive(toBytes(data)));
  }

  /** Resolves once the socket has closed. */
  get closed(): Promise<void> {
    return this.#closed;
  }

  /** Whether the socket has closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The stream of channel `n`. */
  channel(n: number): ChannelStream {
    const inbox = this.#inboxes.get(n);
    return {
      write: (data) =>
        this.#send(n, typeof data === "string" ? new TextEncoder().encode(data) : data),
      // No per-channel end on the wire; ending our side also stops reading the client's side
      // (a port-forward whose pod closed is done).
      end: () => {
        if (inbox && !inbox.ended) {
          inbox.ended = true;
          inbox.notify();
        }
        return Promise.resolve();
      },
      [Symbol.asyncIterator]: () => this.#iterate(inbox),
    };
  }

  async *#iterate(inbox: Inbox | undefined): AsyncGenerator<Uint8Array> {
    if (!inbox) return;
    for (;;) {
      const chunk = inbox.queue.shift();
      if (chunk) {
        this.#taken(chunk.length);
        yield chunk;
        continue;
      }
      if (inbox.ended) return;
      await new Promise<void>((resolve) => inbox.wake = resolve);
    }
  }

  /** Closes the socket with `code` (1000: done) and waits up to `graceMs` before dropping it. */
  async close(code = 1000, reason = "", graceMs = 10_000): Promise<void> {
    if (this.#isClosed) return;
    try {
      this.#ws.close(code, reason);
    } catch {
      this.#ws.terminate();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#closed,
      new Promise<void>((resolve) =>
        timer = setTimeout(() => {
          this.#ws.terminate();
          resolve();
        }, graceMs)
      ),
    ]);
    clearTimeout(timer);
  }

  /** Drops the socket at once. */
  destroy(): void {
    this.#ws.terminate();
  }

  #send(n: number, payload: Uint8Array): Promise<void> {
    if (this.#isClosed) return Promise.reject(new Error("The WebSocket is closed"));
    this.#touch();
    return new Promise((resolve, reject) => {
      this.#ws.send(
        encodeMessage(n, payload, this.#framing),
        (err) => err ? reject(err) : resolve(),
      );
    });
  }

  #receive(data: Uint8Array): void {
    this.#touch();
    const message = decodeMessage(data, this.#framing);
    if (!message) return;
    if (this.#framing.closeSignal && message.channel === CLOSE_CHANNEL) {
      for (const n of message.payload) {
        const inbox = this.#inboxes.get(n);
        if (!inbox) continue;
        inbox.ended = true;
        inbox.notify();
      }
      return;
    }
    const inbox = this.#inboxes.get(message.channel);
    if (!inbox || inbox.ended || message.payload.length === 0) return;
    inbox.queue.push(message.payload);
    this.#buffered += message.payload.length;
    inbox.notify();
    if (this.#buffered > WS_READ_WINDOW && !this.#paused) {
      this.#paused = true;
      this.#ws.pause();
    }
  }

  #taken(bytes: number): void {
    this.#buffered -= bytes;
    if (this.#paused && this.#buffered <= WS_READ_WINDOW / 2) {
      this.#paused = false;
      this.#ws.resume();
    }
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) {
    const size = data.reduce((n, b) => n + b.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const b of data) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data);
}
