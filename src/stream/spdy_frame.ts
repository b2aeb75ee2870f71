/**
 * SPDY/3.1 framing (SPDY Protocol draft 3.1, section 2.2): the frames a streaming server
 * exchanges with client-go's SPDY client (docker/spdystream). Header blocks stay compressed
 * here; `spdy_headers.ts` turns them into names and values.
 *
 * Control frame: `1 | version:15 | type:16 | flags:8 | length:24 | payload`.
 * Data frame: `0 | stream id:31 | flags:8 | length:24 | payload`.
 *
 * @module
 */

/** The protocol version in control frames. */
export const SPDY_VERSION = 3;

/** Control frame types. */
export const FrameType = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

/** FLAG_FIN of DATA, SYN_STREAM, SYN_REPLY and HEADERS: the sender's half is closed. */
export const FLAG_FIN = 0x01;
/** FLAG_UNIDIRECTIONAL of SYN_STREAM. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  protocolError: 1,
  invalidStream: 2,
  refusedStream: 3,
  unsupportedVersion: 4,
  cancel: 5,
  internalError: 6,
  flowControlError: 7,
  streamInUse: 8,
  streamAlreadyClosed: 9,
  frameTooLarge: 11,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { ok: 0, protocolError: 1, internalError: 2 } as const;

/** The largest payload a frame can carry (24-bit length). */
export const MAX_FRAME_PAYLOAD = 0xffffff;

/** A decoded frame; header blocks are still compressed. */
export type Frame =
  | { type: "data"; streamId: number; flags: number; data: Uint8Array }
  | {
    type: "synStream";
    streamId: number;
    associatedId: number;
    priority: number;
    flags: number;
    headerBlock: Uint8Array;
  }
  | { type: "synReply"; streamId: number; flags: number; headerBlock: Uint8Array }
  | { type: "headers"; streamId: number; flags: number; headerBlock: Uint8Array }
  | { type: "rstStream"; streamId: number; status: number }
  | { type: "settings"; flags: number; entries: { id: number; flags: number; value: number }[] }
  | { type: "ping"; id: number }
  | { type: "goAway"; lastGoodStreamId: number; status: number }
  | { type: "windowUpdate"; streamId: number; delta: number }
  | { type: "unknown"; controlType: number; version: number; flags: number; payload: Uint8Array };

/** A frame the peer sent that breaks the protocol; the connection should end with GOAWAY. */
export class SpdyProtocolError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SpdyProtocolError";
  }
}

function header(out: DataView, word0: number, flags: number, length: number): void {
  out.setUint32(0, word0 >>> 0);
  out.setUint32(4, ((flags & 0xff) << 24 | (length & 0xffffff)) >>> 0);
}

function control(type: number, flags: number, payload: Uint8Array): Uint8Array {
  if (payload.length > MAX_FRAME_PAYLOAD) {
    throw new RangeError(`Frame payload of ${payload.length} bytes is over the SPDY limit`);
  }
  const frame = new Uint8Array(8 + payload.length);
  header(new DataView(frame.buffer), (0x8000 | SPDY_VERSION) << 16 | type, flags, payload.length);
  frame.set(payload, 8);
  return frame;
}

function words(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v >>> 0));
  return bytes;
}

function withPrefix(prefix: Uint8Array, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + rest.length);
  out.set(prefix);
  out.set(rest, prefix.length);
  return out;
}

/**
 * Encodes one frame.
 *
 * @param frame Anything but `unknown`.
 * @returns The frame's bytes.
 * @throws {RangeError} When the payload is over 16 MiB - 1.
 */
export function encodeFrame(frame: Exclude<Frame, { type: "unknown" }>): Uint8Array {
  switch (frame.type) {
    case "data": {
      if (frame.data.length > MAX_FRAME_PAYLOAD) {
        throw new RangeError(`Frame payload of ${frame.data.length} bytes is over the SPDY limit`);
      }
      const out = new Uint8Array(8 + frame.data.length);
      header(new DataView(out.buffer), frame.streamId & 0x7fffffff, frame.flags, frame.data.length);
      out.set(frame.data, 8);
      return out;
    }
    case "synStream": {
      const prefix = new Uint8Array(10);
      const view = new DataView(prefix.buffer);
      view.setUint32(0, frame.streamId & 0x7fffffff);
      view.setUint32(4, frame.associatedId & 0x7fffffff);
      prefix[8] = (frame.priority & 0x7) << 5;
      return control(FrameType.synStream, frame.flags, withPrefix(prefix, frame.headerBlock));
    }
    case "synReply":
      return control(
        FrameType.synReply,
        frame.flags,
        withPrefix(words(frame.streamId & 0x7fffffff), frame.headerBlock),
      );
    case "headers":
      return control(
        FrameType.headers,
        frame.flags,
        withPrefix(words(frame.streamId & 0x7fffffff), frame.headerBlock),
      );
    case "rstStream":
      return control(FrameType.rstStream, 0, words(frame.streamId & 0x7fffffff, frame.status));
    case "settings": {
      const values = [frame.entries.length];
      for (const e of frame.entries) {
        values.push((e.flags & 0xff) << 24 | (e.id & 0xffffff), e.value);
      }
      return control(FrameType.settings, frame.flags, words(...values));
    }
    case "ping":
      return control(FrameType.ping, 0, words(frame.id));
    case "goAway":
      return control(FrameType.goAway, 0, words(frame.lastGoodStreamId & 0x7fffffff, frame.status));
    case "windowUpdate":
      return control(
        FrameType.windowUpdate,
        0,
        words(frame.streamId & 0x7fffffff, frame.delta & 0x7fffffff),
      );
  }
}

/**
 * Splits a byte stream into frames: feed it what the socket delivers, in any pieces, and take
 * the frames that are complete.
 */
export class FrameReader {
  #buffer: Uint8Array = new Uint8Array(0);
  #maxPayload: number;

  /** @param options.maxPayload Refuse frames larger than this. @default 16 MiB - 1 */
  constructor(options: { maxPayload?: number } = {}) {
    this.#maxPayload = options.maxPayload ?? MAX_FRAME_PAYLOAD;
  }

  /** Bytes received but not yet part of a complete frame. */
  get pending(): number {
    return this.#buffer.length;
  }

  /**
   * Adds bytes and returns every frame now complete, in order.
   *
   * @throws {SpdyProtocolError} On a malformed or oversized frame.
   */
  push(chunk: Uint8Array): Frame[] {
    if (this.#buffer.length === 0) {
      this.#buffer = chunk;
    } else {
      const joined = new Uint8Array(this.#buffer.length + chunk.length);
      joined.set(this.#buffer);
      joined.set(chunk, this.#buffer.length);
      this.#buffer = joined;
    }
    const frames: Frame[] = [];
    let at = 0;
    const buf = this.#buffer;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    while (buf.length - at >= 8) {
      const length = view.getUint32(at + 4) & 0xffffff;
      if (length > this.#maxPayload) {
        throw new SpdyProtocolError(`Frame of ${length} bytes is over the limit`);
      }
      if (buf.length - at < 8 + length) break;
      frames.push(decode(view, at, length, buf));
      at += 8 + length;
    }
    this.#buffer = at === buf.length ? new Uint8Array(0) : buf.slice(at);
    return frames;
  }
}

function decode(view: DataView, at: number, length: number, buf: Uint8Array): Frame {
  const word0 = view.getUint32(at);
  const flags = view.getUint8(at + 4);
  const payload = buf.slice(at + 8, at + 8 + length);
  const p = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if ((word0 & 0x80000000) === 0) {
    return { type: "data", streamId: word0 & 0x7fffffff, flags, data: payload };
  }
  const version = (word0 >>> 16) & 0x7fff;
  const type = word0 & 0xffff;
  const need = (n: number, what: string) => {
    if (length < n) throw new SpdyProtocolError(`${what} frame of ${length} bytes is too short`);
  };
  if (version !== SPDY_VERSION) {
    return { type: "unknown", controlType: type, version, flags, payload };
  }
  switch (type) {
    case FrameType.synStream:
      need(10, "SYN_STREAM");
      return {
        type: "synStream",
        streamId: p.getUint32(0) & 0x7fffffff,
        associatedId: p.getUint32(4) & 0x7fffffff,
        priority: p.getUint8(8) >>> 5,
        flags,
        headerBlock: payload.subarray(10),
      };
    case FrameType.synReply:
    case FrameType.headers: {
      // The same layout: a stream ID, then the header block.
      const synReply = type === FrameType.synReply;
      need(4, synReply ? "SYN_REPLY" : "HEADERS");
      return {
        type: synReply ? "synReply" : "headers",
        streamId: p.getUint32(0) & 0x7fffffff,
        flags,
        headerBlock: payload.subarray(4),
      };
    }
    case FrameType.rstStream:
      need(8, "RST_STREAM");
      return { type: "rstStream", streamId: p.getUint32(0) & 0x7fffffff, status: p.getUint32(4) };
    case FrameType.settings: {
      need(4, "SETTINGS");
      const count = p.getUint32(0);
      need(4 + count * 8, "SETTINGS");
      const entries = [];
      for (let i = 0; i < count; i++) {
        const idWord = p.getUint32(4 + i * 8);
        entries.push({
          flags: idWord >>> 24,
          id: idWord & 0xffffff,
          value: p.getUint32(8 + i * 8),
        });
      }
      return { type: "settings", flags, entries };
    }
    case FrameType.ping:
      need(4, "PING");
      return { type: "ping", id: p.getUint32(0) };
    case FrameType.goAway:
      need(8, "GOAWAY");
      return {
        type: "goAway",
        lastGoodStreamId: p.getUint32(0) & 0x7fffffff,
        status: p.getUint32(4),
      };
    case FrameType.windowUpdate:
      need(8, "WINDOW_UPDATE");
      return {
        type: "windowUpdate",
        streamId: p.getUint32(0) & 0x7fffffff,
        delta: p.getUint32(4) & 0x7fffffff,
      };
    default:
      return { type: "unknown", controlType: type, version, flags, payload };
  }
}
