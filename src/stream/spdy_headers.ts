/**
 * SPDY/3 header blocks (draft 3.1, section 2.6.10): a 32-bit count of pairs, then each name
 * and value with a 32-bit length; several values of one name are joined by NUL. The block is
 * zlib-compressed with the SPDY/3 dictionary, one compression context per direction for the
 * whole connection, each block ending with a sync flush.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import zlib from "node:zlib";
import { SPDY3_DICTIONARY } from "./spdy_dictionary.ts";
import { SpdyProtocolError } from "./spdy_frame.ts";

/** Header names (lower case) to their values; a name may carry several. */
export type SpdyHeaders = Record<string, string[]>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** The largest decompressed header block accepted (guards against a zlib bomb). */
export const MAX_HEADER_BLOCK = 256 * 1024;

/**
 * Serializes headers into an uncompressed SPDY/3 header block. Names are lower-cased.
 *
 * @throws {TypeError} When a name is empty or a value holds a NUL.
 */
export function serializeHeaderBlock(headers: SpdyHeaders): Uint8Array {
  const parts: Uint8Array[] = [];
  const u32 = (n: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    return b;
  };
  const entries = Object.entries(headers);
  parts.push(u32(entries.length));
  for (const [name, values] of entries) {
    if (name === "") throw new TypeError("Empty header name");
    if (values.some((v) => v.includes("\0"))) {
      throw new TypeError(`Header "${name}" has a NUL in its value`);
    }
    const n = encoder.encode(name.toLowerCase());
    const v = encoder.encode(values.join("\0"));
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/**
 * Parses an uncompressed SPDY/3 header block.
 *
 * @throws {SpdyProtocolError} When the block is truncated or malformed.
 */
export function parseHeaderBlock(block: Uint8Array): SpdyHeaders {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  let at = 0;
  const u32 = () => {
    if (at + 4 > block.length) throw new SpdyProtocolError("Truncated header block");
    const n = view.getUint32(at);
    at += 4;
    return n;
  };
  const bytes = (n: number) => {
    if (at + n > block.length) throw new SpdyProtocolError("Truncated header block");
    const s = decoder.decode(block.subarray(at, at + n));
    at += n;
    return s;
  };
  const count = u32();
  const headers: SpdyHeaders = {};
  for (let i = 0; i < count; i++) {
    const name = bytes(u32()).toLowerCase();
    if (name === "") throw new SpdyProtocolError("Empty header name in header block");
    const values = bytes(u32()).split("\0");
    // Own properties only: a peer's header named "__proto__" or "constructor" is a header.
    if (!Object.hasOwn(headers, name)) {
      Object.defineProperty(headers, name, {
        value: [],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    const list = headers[name]!;
    for (const v of values) list.push(v); // not push(...values): too many arguments
  }
  return headers;
}

/** The first value of a header, or undefined. */
export function headerValue(headers: SpdyHeaders, name: string): string | undefined {
  const key = name.toLowerCase();
  return Object.hasOwn(headers, key) ? headers[key]?.[0] : undefined;
}

/**
 * The two compression contexts of one connection. Calls are serialized: each block goes
 * through the shared context in the order the calls were made.
 */
export class HeaderCodec {
  #deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  #inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  #deflateQueue: Promise<unknown> = Promise.resolve();
  #inflateQueue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #broken: Error | undefined;

  constructor() {
    // zlib may emit an error more than once (on the write, then on the flush): keep a
    // listener for the codec's whole life and refuse further blocks once broken.
    for (const z of [this.#deflate, this.#inflate]) {
      z.on("error", (err: Error) => this.#broken ??= err);
    }
  }

  /** Compresses a header block (uncompressed form from {@linkcode serializeHeaderBlock}). */
  compress(headers: SpdyHeaders): Promise<Uint8Array> {
    const block = serializeHeaderBlock(headers);
    const next = this.#deflateQueue.then(() => this.#run(this.#deflate, block, Infinity));
    this.#deflateQueue = next.catch(() => {});
    return next;
  }

  /**
   * Decompresses and parses a header block the peer sent.
   *
   * @throws {SpdyProtocolError} When zlib or the block format fails.
   */
  decompress(compressed: Uint8Array): Promise<SpdyHeaders> {
    const next = this.#inflateQueue.then(async () => {
      const raw = await this.#run(this.#inflate, compressed, MAX_HEADER_BLOCK);
      return parseHeaderBlock(raw);
    });
    this.#inflateQueue = next.catch(() => {});
    return next;
  }

  /** Frees both contexts. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#deflate.close();
    this.#inflate.close();
  }

  #run(z: zlib.Deflate | zlib.Inflate, input: Uint8Array, limit: number): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new SpdyProtocolError("Header codec is closed"));
    if (this.#broken) {
      return Promise.reject(
        new SpdyProtocolError(`Header compression failed earlier: ${this.#broken.message}`),
      );
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        z.off("data", onData);
        z.off("error", onError);
        if (err) reject(err);
        else resolve(Buffer.concat(chunks));
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          // A zlib bomb: stop inflating (the context is out of step now; refuse the rest).
          const err = new SpdyProtocolError(`Header block is over ${limit} bytes decompressed`);
          this.#broken ??= err;
          done(err);
          z.close();
          return;
        }
        chunks.push(chunk);
      };
      const onError = (err: Error) =>
        done(
          new SpdyProtocolError(`Cannot decompress header block: ${err.message}`, { cause: err }),
        );
      z.on("data", onData);
      z.on("error", onError);
      z.write(input);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => done());
    });
  }
}
