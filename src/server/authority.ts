/**
 * Rewrites the HTTP/2 `:authority` pseudo-header in the client->server byte stream of a gRPC
 * connection, so that servers built on Node's or Deno's HTTP/2 accept Go clients that send the
 * socket path (`/run/ocid/ocid.sock`) as `:authority` (kubelet, crictl and critest before 1.31).
 *
 * The stream is the 24-byte client preface, then frames: a 9-byte header (24-bit length, type,
 * flags, 31-bit stream id) and a payload. Frames other than HEADERS (type 1) and the
 * CONTINUATION frames (type 9) that complete a header block pass through untouched, without a
 * copy. A header block is gathered until END_HEADERS and its HPACK representations (RFC 7541 §6)
 * are walked; each one that carries `:authority` is replaced by the same kind of representation
 * with static name index 1 and a raw (not Huffman-coded) replacement value.
 *
 * Why the dynamic tables of client and server stay consistent: a literal with incremental
 * indexing stays one, so both sides add an entry at the same moment and later indexes (counted
 * from the newest entry) point at the same entry; the server reads the rewritten value where
 * the client meant the path. The client evicts by the sizes of its own entries, the server by
 * the sizes of its (rewritten) entries. A rewritten indexed value is never longer than the
 * original (a short original gets a same-length prefix of the replacement), so each server
 * entry is at most as large as the client's and the server always keeps at least the entries
 * the client can still reference. To know which dynamic entries are named `:authority`, the
 * rewriter keeps its own copy of the client's table (names and sizes only).
 *
 * A client's GOAWAY frame (type 7) is dropped: Deno's node:http2 server can abort the whole
 * process inside nghttp2 while handling one (seen here as `find_stream_on_goaway_func:
 * Assertion stream->closed_next == NULL` or `free(): invalid pointer` after a grpc-js client
 * closed a connection that had carried a few hundred calls; compare denoland/deno#36788). A
 * client sends GOAWAY only as it goes away, and the socket's end closes the session all the
 * same; its last-stream-id concerns server-pushed streams, which gRPC never opens.
 *
 * Two more guards keep the client away from error paths of Deno's node:http2 that crash the
 * process (SIGSEGV, or glibc's "double free or corruption") when they close a session:
 * - A PING ACK the server did not ask for is dropped. node:http2 treats one as a connection
 *   error, and a client that went on sending after it crashed the daemon within a few tries.
 *   The rewriter counts the server's PINGs in the server->client bytes it is shown
 *   ({@linkcode AuthorityRewriter.observeServer}) and lets one ACK through per PING.
 * - A client may have at most {@linkcode MAX_UNANSWERED} SETTINGS and PING frames that the
 *   server has not acknowledged yet. nghttp2 ends a session with 1000 pending acknowledgements
 *   as "flooding", through the same crashing path; past the limit the rewriter refuses the
 *   connection ({@linkcode AuthorityRewriter.refused}) and forwards nothing more, and the
 *   caller closes it. Real clients have one or two outstanding at a time.
 *
 * A header block that cannot be parsed (malformed HPACK, a block interrupted by another frame,
 * a block larger than 1 MiB) is passed through untouched and no later block is rewritten; the
 * server then rejects it as it would have anyway. Frames are still delimited, so the guards
 * above stay on. A stream without the HTTP/2 preface is passed through as it is.
 *
 * @example
 * ```ts
 * const rewriter = new AuthorityRewriter();
 * socket.on("data", (chunk) => {
 *   for (const part of rewriter.push(chunk)) duplex.push(part);
 * });
 * ```
 *
 * @module
 */

/** The client connection preface (RFC 9113 §3.4). */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const FRAME_HEADER = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_PING = 0x6;
const TYPE_GOAWAY = 0x7;
const TYPE_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** Largest frame payload every peer must accept (SETTINGS_MAX_FRAME_SIZE's minimum). */
const MAX_FRAME_PAYLOAD = 16_384;
/**
 * How many SETTINGS and PING frames a client may have sent that the server has not acknowledged
 * yet (nghttp2 gives up on a session at 1000 pending acknowledgements of any kind).
 */
export const MAX_UNANSWERED = 200;
/** Initial SETTINGS_HEADER_TABLE_SIZE (RFC 7541 §4.2). */
const DEFAULT_TABLE_SIZE = 4_096;
/** RFC 7541 §4.1: each table entry costs its name and value lengths plus 32. */
const ENTRY_OVERHEAD = 32;
const AUTHORITY = ":authority";

/**
 * Names of the HPACK static table (RFC 7541 Appendix A), index 1 to 61. Only the names matter
 * here: they size the dynamic-table entries a literal with a static name index adds.
 */
const STATIC_NAMES = [
  ":authority",
  ":method",
  ":method",
  ":path",
  ":path",
  ":scheme",
  ":scheme",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "accept",
  "access-control-allow-origin",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-range",
  "content-type",
  "cookie",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "link",
  "location",
  "max-forwards",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "refresh",
  "retry-after",
  "server",
  "set-cookie",
  "strict-transport-security",
  "transfer-encoding",
  "user-agent",
  "vary",
  "via",
  "www-authenticate",
] as const;

/** Options of {@linkcode AuthorityRewriter}. */
export interface AuthorityRewriterOptions {
  /**
   * The `:authority` value the server sees. It must be a valid authority.
   * @default {"localhost"}
   */
  authority?: string;
}

/** The client stream is malformed; the rewriter stops rewriting. */
class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}

/** One frame of a header block being gathered. */
interface HeldFrame {
  header: Uint8Array;
  payload: Uint8Array;
  /** How many payload bytes arrived so far. */
  filled: number;
}

/**
 * A stateful transform of one connection's client->server bytes that replaces every
 * `:authority` value by `localhost` (or {@linkcode AuthorityRewriterOptions.authority}).
 * Pure: no I/O; feed chunks in order with {@linkcode AuthorityRewriter.push}.
 */
export class AuthorityRewriter {
  readonly #authority: Uint8Array;
  #prefaceLeft = PREFACE.length;
  /** Set once a header block cannot be parsed: no block is rewritten from then on. */
  #failure: string | undefined;
  /** Set when the preface is wrong: frames cannot be told apart, everything passes through. */
  #opaque = false;
  /** Set when the client broke a limit: nothing more is forwarded. */
  #refused: string | undefined;
  /** Bytes of a frame header that began in an earlier chunk. */
  readonly #header = new Uint8Array(FRAME_HEADER);
  #headerLen = 0;
  /** Payload bytes of a pass-through frame still to come. */
  #skipLeft = 0;
  /** Payload bytes of a dropped frame (a client GOAWAY) still to come. */
  #dropLeft = 0;
  #dropped = 0;
  /** The header block being gathered (HEADERS, then CONTINUATION frames). */
  #held: HeldFrame[] = [];
  /** Payload bytes of the last held frame still to come. */
  #collectLeft = 0;
  #heldBytes = 0;
  readonly #table = new ClientTable();
  #rewrites = 0;
  /** Server PINGs the client has not acknowledged yet. */
  #serverPings = 0;
  #droppedPingAcks = 0;
  /** Client SETTINGS and PING frames (not ACKs), and the server's ACKs of such frames. */
  #demanded = 0;
  #answered = 0;
  /** Where the server->client frame walk of {@linkcode observeServer} stands. */
  readonly #serverHeader = new Uint8Array(FRAME_HEADER);
  #serverHeaderLen = 0;
  #serverSkip = 0;

  /** Creates a rewriter for one new connection (it expects the client preface first). */
  constructor(options: AuthorityRewriterOptions = {}) {
    this.#authority = new TextEncoder().encode(options.authority ?? "localhost");
  }

  /** How many `:authority` representations were replaced so far. */
  get rewrites(): number {
    return this.#rewrites;
  }

  /** How many client GOAWAY frames were dropped so far. */
  get droppedGoaways(): number {
    return this.#dropped;
  }

  /** How many PING ACKs the server had not asked for were dropped so far. */
  get droppedPingAcks(): number {
    return this.#droppedPingAcks;
  }

  /** Why the rewriter gave up rewriting header blocks, or `undefined` while it works. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /**
   * Why the connection must be closed, or `undefined`. Once set, {@linkcode push} returns
   * nothing: the caller should close the connection.
   */
  get refused(): string | undefined {
    return this.#refused;
  }

  /**
   * Shows the rewriter the server->client bytes, in order, so that it knows which PINGs the
   * server sent and which SETTINGS and PINGs of the client it acknowledged. Only frame headers
   * are read; nothing is copied.
   *
   * @param chunk The next bytes the server sent.
   */
  observeServer(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#serverSkip > 0) {
        const take = Math.min(this.#serverSkip, n - i);
        this.#serverSkip -= take;
        i += take;
        continue;
      }
      let header: Uint8Array;
      let at: number;
      if (this.#serverHeaderLen === 0 && n - i >= FRAME_HEADER) {
        header = chunk;
        at = i;
        i += FRAME_HEADER;
      } else {
        const take = Math.min(FRAME_HEADER - this.#serverHeaderLen, n - i);
        this.#serverHeader.set(chunk.subarray(i, i + take), this.#serverHeaderLen);
        this.#serverHeaderLen += take;
        i += take;
        if (this.#serverHeaderLen < FRAME_HEADER) continue;
        this.#serverHeaderLen = 0;
        header = this.#serverHeader;
        at = 0;
      }
      this.#serverSkip = readLength(header, at);
      const type = header[at + 3];
      if (type !== TYPE_PING && type !== TYPE_SETTINGS) continue;
      if (header[at + 4]! & FLAG_ACK) this.#answered++;
      else if (type === TYPE_PING) this.#serverPings++;
    }
  }

  /**
   * Takes the next chunk of client->server bytes and returns the bytes to forward, in order.
   * A chunk without header blocks comes back as itself (no copy); bytes of an unfinished frame
   * header or header block are held until a later chunk completes them.
   *
   * @param chunk The next bytes the client sent.
   * @returns The bytes to hand to the server, possibly none.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#refused !== undefined) return [];
    if (this.#opaque) return chunk.length === 0 ? [] : [chunk];
    const out: Uint8Array[] = [];
    let start = 0; // start of the pending pass-through range of `chunk`
    const flush = (end: number) => {
      if (end > start) out.push(end - start === chunk.length ? chunk : chunk.subarray(start, end));
      start = end;
    };
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#opaque) break;
      if (this.#refused !== undefined) {
        start = n; // forward nothing from the refused frame on
        break;
      }
      if (this.#prefaceLeft > 0) {
        const take = Math.min(this.#prefaceLeft, n - i);
        const offset = PREFACE.length - this.#prefaceLeft;
        for (let k = 0; k < take; k++) {
          if (chunk[i + k] !== PREFACE[offset + k]) {
            this.#failure = "the client did not send the HTTP/2 preface";
            this.#opaque = true;
            break;
          }
        }
        this.#prefaceLeft -= take;
        i += take;
      } else if (this.#skipLeft > 0) {
        const take = Math.min(this.#skipLeft, n - i);
        this.#skipLeft -= take;
        i += take;
      } else if (this.#dropLeft > 0) {
        flush(i);
        const take = Math.min(this.#dropLeft, n - i);
        this.#dropLeft -= take;
        i += take;
        start = i;
      } else if (this.#collectLeft > 0) {
        flush(i);
        const frame = this.#held[this.#held.length - 1]!;
        const take = Math.min(this.#collectLeft, n - i);
        frame.payload.set(chunk.subarray(i, i + take), frame.filled);
        frame.filled += take;
        this.#collectLeft -= take;
        i += take;
        start = i;
        if (this.#collectLeft === 0) this.#blockFrameDone(out);
      } else if (this.#headerLen === 0 && n - i >= FRAME_HEADER && this.#held.length === 0) {
        // Fast path: a whole frame header in this chunk and no header block open.
        const type = chunk[i + 3];
        if (type === TYPE_GOAWAY) {
          flush(i);
          this.#drop(readLength(chunk, i));
          i += FRAME_HEADER;
          start = i;
          continue;
        }
        if (type === TYPE_PING || type === TYPE_SETTINGS) {
          const verdict = this.#control(type, chunk[i + 4]!);
          if (verdict !== "pass") {
            flush(i);
            if (verdict === "drop") {
              this.#dropLeft = readLength(chunk, i);
              i += FRAME_HEADER;
              start = i;
            }
            continue;
          }
        }
        if (type !== TYPE_HEADERS || this.#failure !== undefined) {
          this.#skipLeft = readLength(chunk, i);
          i += FRAME_HEADER;
          continue;
        }
        flush(i);
        const header = chunk.slice(i, i + FRAME_HEADER);
        i += FRAME_HEADER;
        start = i;
        this.#frameHeader(header, out);
      } else {
        flush(i);
        const take = Math.min(FRAME_HEADER - this.#headerLen, n - i);
        this.#header.set(chunk.subarray(i, i + take), this.#headerLen);
        this.#headerLen += take;
        i += take;
        start = i;
        if (this.#headerLen < FRAME_HEADER) continue;
        this.#headerLen = 0;
        this.#frameHeader(this.#header.slice(), out);
      }
    }
    flush(n);
    return out;
  }

  /** Handles a complete frame header that did not pass through the fast path. */
  #frameHeader(header: Uint8Array, out: Uint8Array[]) {
    const length = readLength(header, 0);
    const type = header[3]!;
    if (this.#held.length === 0 && type === TYPE_GOAWAY) return this.#drop(length);
    if (this.#held.length === 0 && (type === TYPE_PING || type === TYPE_SETTINGS)) {
      const verdict = this.#control(type, header[4]!);
      if (verdict === "refuse") return;
      if (verdict === "drop") {
        this.#dropLeft = length;
        return;
      }
    }
    if (this.#held.length === 0 && (type !== TYPE_HEADERS || this.#failure !== undefined)) {
      out.push(header);
      this.#skipLeft = length;
      return;
    }
    if (this.#held.length > 0) {
      if (
        type !== TYPE_CONTINUATION || readStream(header, 0) !== readStream(this.#held[0]!.header, 0)
      ) {
        return this.#giveUp("a header block was interrupted by another frame", out, header);
      }
    }
    this.#heldBytes += FRAME_HEADER + length;
    if (this.#heldBytes > MAX_HELD_BYTES) {
      return this.#giveUp(`a header block is larger than ${MAX_HELD_BYTES} bytes`, out, header);
    }
    this.#held.push({ header, payload: new Uint8Array(length), filled: 0 });
    this.#collectLeft = length;
    if (length === 0) this.#blockFrameDone(out);
  }

  /**
   * Decides on a client SETTINGS or PING frame (see @module): a PING ACK the server did not ask
   * for is dropped; one SETTINGS or PING too many refuses the connection.
   */
  #control(type: number, flags: number): "pass" | "drop" | "refuse" {
    if (flags & FLAG_ACK) {
      if (type === TYPE_SETTINGS) return "pass";
      if (this.#serverPings > 0) {
        this.#serverPings--;
        return "pass";
      }
      this.#droppedPingAcks++;
      return "drop";
    }
    this.#demanded++;
    if (this.#demanded - this.#answered <= MAX_UNANSWERED) return "pass";
    this.#refused = `the client sent more than ${MAX_UNANSWERED} SETTINGS and PING frames ` +
      "that the server has not acknowledged yet";
    return "refuse";
  }

  /** Drops a client GOAWAY frame whose header was read; `length` payload bytes follow. */
  #drop(length: number) {
    this.#dropLeft = length;
    this.#dropped++;
  }

  /** Called when the payload of the last held frame is complete. */
  #blockFrameDone(out: Uint8Array[]) {
    const frames = this.#held;
    if ((frames[frames.length - 1]!.header[4]! & FLAG_END_HEADERS) === 0) return;
    this.#held = [];
    this.#heldBytes = 0;
    let rewritten: Uint8Array[] | undefined;
    try {
      rewritten = this.#rewriteBlock(frames);
    } catch (error) {
      if (!(error instanceof HpackError)) throw error;
      this.#failure = error.message;
    }
    if (rewritten) {
      out.push(...rewritten);
    } else {
      for (const frame of frames) out.push(frame.header, frame.payload);
    }
  }

  /**
   * Stops rewriting: emits the held frames as they came, then handles `header` (the frame
   * header that made the rewriter give up) as a frame outside any header block.
   */
  #giveUp(reason: string, out: Uint8Array[], header: Uint8Array) {
    this.#failure = reason;
    for (const frame of this.#held) {
      out.push(frame.header, frame.payload.subarray(0, frame.filled));
    }
    this.#held = [];
    this.#heldBytes = 0;
    this.#collectLeft = 0;
    this.#frameHeader(header, out);
  }

  /**
   * Rewrites one complete header block.
   * @returns The frames to send instead, or `undefined` when nothing changed.
   */
  #rewriteBlock(frames: HeldFrame[]): Uint8Array[] | undefined {
    const first = frames[0]!;
    const flags = first.header[4]!;
    let begin = 0;
    let end = first.payload.length;
    if (flags & FLAG_PADDED) {
      const pad = first.payload[0];
      if (pad === undefined || pad + 1 > end) throw new HpackError("bad HEADERS padding");
      begin = 1;
      end -= pad;
    }
    let priority: Uint8Array = new Uint8Array(0);
    if (flags & FLAG_PRIORITY) {
      if (end - begin < 5) throw new HpackError("bad HEADERS priority");
      priority = first.payload.subarray(begin, begin + 5);
      begin += 5;
    }
    const fragments = [
      first.payload.subarray(begin, end),
      ...frames.slice(1).map((f) => f.payload),
    ];
    const block = fragments.length === 1 ? fragments[0]! : concat(fragments);
    const parts = this.#rewriteHpack(block);
    if (parts === undefined) return undefined;
    const newBlock = concat(parts);
    const stream = readStream(first.header, 0);
    const result: Uint8Array[] = [];
    let offset = 0;
    let type = TYPE_HEADERS;
    let room = MAX_FRAME_PAYLOAD - priority.length;
    do {
      const size = Math.min(room, newBlock.length - offset);
      const last = offset + size === newBlock.length;
      let frameFlags = last ? FLAG_END_HEADERS : 0;
      let prefix: Uint8Array = new Uint8Array(0);
      if (type === TYPE_HEADERS) {
        frameFlags |= flags & (FLAG_END_STREAM | FLAG_PRIORITY);
        prefix = priority;
      }
      result.push(
        frameHeader(prefix.length + size, type, frameFlags, stream),
        concat([prefix, newBlock.subarray(offset, offset + size)]),
      );
      offset += size;
      type = TYPE_CONTINUATION;
      room = MAX_FRAME_PAYLOAD;
    } while (offset < newBlock.length);
    return result;
  }

  /**
   * Walks the HPACK representations of a block, tracking the client's dynamic table.
   * @returns The pieces of the new block, or `undefined` when no representation changed.
   */
  #rewriteHpack(block: Uint8Array): Uint8Array[] | undefined {
    const parts: Uint8Array[] = [];
    let copied = 0;
    const reader = new Reader(block);
    while (!reader.done) {
      const start = reader.pos;
      const byte = block[start]!;
      if (byte & 0x80) {
        // Indexed header field: adds nothing, and an index to a rewritten entry stays right.
        this.#table.name(reader.integer(7));
        continue;
      }
      if ((byte & 0xe0) === 0x20) {
        this.#table.resize(reader.integer(5));
        continue;
      }
      const indexing = (byte & 0xc0) === 0x40;
      const prefixBits = indexing ? 6 : 4;
      const kind = byte & (indexing ? 0xc0 : 0xf0);
      const nameIndex = reader.integer(prefixBits);
      const name = nameIndex === 0 ? latin1(reader.string()) : this.#table.name(nameIndex);
      const value = reader.string();
      if (indexing) this.#table.add(name, value.length);
      if (name !== AUTHORITY || value.length === 0) continue;
      // With indexing, never make the server's entry larger than the client's (see @module).
      const replacement = indexing && value.length < this.#authority.length
        ? this.#authority.subarray(0, value.length)
        : this.#authority;
      parts.push(block.subarray(copied, start));
      parts.push(encodeInteger(kind, prefixBits, 1), encodeString(replacement));
      copied = reader.pos;
      this.#rewrites++;
    }
    if (parts.length === 0) return undefined;
    parts.push(block.subarray(copied));
    return parts;
  }
}

/** Header blocks larger than this are not rewritten (the stream passes through). */
const MAX_HELD_BYTES = 1 << 20;

/** The client's HPACK dynamic table as seen on the wire: names and entry sizes. */
class ClientTable {
  #entries: { name: string; size: number }[] = []; // newest first
  #size = 0;
  #max = DEFAULT_TABLE_SIZE;

  /** The name at an HPACK index (1-61 static, 62+ dynamic). */
  name(index: number): string {
    if (index === 0) throw new HpackError("HPACK index 0 is not allowed");
    if (index <= STATIC_NAMES.length) return STATIC_NAMES[index - 1]!;
    const entry = this.#entries[index - STATIC_NAMES.length - 1];
    if (!entry) throw new HpackError(`HPACK index ${index} is not in the table`);
    return entry.name;
  }

  /** Adds an entry (RFC 7541 §4.4: one larger than the table empties it). */
  add(name: string, valueLength: number) {
    const size = name.length + valueLength + ENTRY_OVERHEAD;
    this.#entries.unshift({ name, size });
    this.#size += size;
    this.#evict();
  }

  /** Applies a dynamic table size update. */
  resize(max: number) {
    this.#max = max;
    this.#evict();
  }

  #evict() {
    while (this.#size > this.#max) {
      this.#size -= this.#entries.pop()!.size;
    }
  }
}

/** Reads HPACK primitives (RFC 7541 §5) from a block. */
class Reader {
  readonly #buf: Uint8Array;
  pos = 0;
  constructor(buf: Uint8Array) {
    this.#buf = buf;
  }

  get done(): boolean {
    return this.pos >= this.#buf.length;
  }

  /** Reads an integer whose first byte keeps `bits` low bits for it. */
  integer(bits: number): number {
    const max = (1 << bits) - 1;
    const first = this.#buf[this.pos++];
    if (first === undefined) throw new HpackError("truncated HPACK integer");
    let value = first & max;
    if (value < max) return value;
    for (let shift = 0; shift <= 28; shift += 7) {
      const byte = this.#buf[this.pos++];
      if (byte === undefined) throw new HpackError("truncated HPACK integer");
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new HpackError("HPACK integer too large");
  }

  /** Reads a string literal and returns its decoded octets. */
  string(): Uint8Array {
    const huffman = ((this.#buf[this.pos] ?? 0) & 0x80) !== 0;
    const length = this.integer(7);
    if (this.pos + length > this.#buf.length) throw new HpackError("truncated HPACK string");
    const raw = this.#buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return huffman ? huffmanDecode(raw) : raw;
  }
}

/** Encodes an HPACK integer with `bits` prefix bits; `high` holds the first byte's other bits. */
function encodeInteger(high: number, bits: number, value: number): Uint8Array {
  const max = (1 << bits) - 1;
  if (value < max) return Uint8Array.of(high | value);
  const bytes = [high | max];
  let rest = value - max;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Uint8Array.from(bytes);
}

/** Encodes a raw (not Huffman-coded) HPACK string literal. */
function encodeString(value: Uint8Array): Uint8Array {
  return concat([encodeInteger(0, 7, value.length), value]);
}

function readLength(buf: Uint8Array, at: number): number {
  return (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
}

function readStream(buf: Uint8Array, at: number): number {
  return ((buf[at + 5]! & 0x7f) * 2 ** 24) + ((buf[at + 6]! << 16) | (buf[at + 7]! << 8) |
    buf[at + 8]!);
}

/** Builds a 9-byte frame header. */
function frameHeader(length: number, type: number, flags: number, stream: number): Uint8Array {
  return Uint8Array.of(
    (length >>> 16) & 0xff,
    (length >>> 8) & 0xff,
    length & 0xff,
    type,
    flags,
    (stream >>> 24) & 0x7f,
    (stream >>> 16) & 0xff,
    (stream >>> 8) & 0xff,
    stream & 0xff,
  );
}

function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Decodes bytes one char each; in slices, as a spread of a long name overflows the stack. */
function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return out;
}

// ---- Huffman code (RFC 7541 Appendix B) ----

/**
 * Code lengths of symbols 0-256 (256 is EOS), one character each: "5"-"9", then "A" = 10 to
 * "U" = 30. The HPACK code is canonical, so the codes follow from the lengths.
 */
const HUFFMAN_LENGTHS =
  "DNSSSSSSSOUSSUSSSSSSSSUSSSSSSSSS6AACD68BAA8B8666555666666678F6CAD677777777777777" +
  "77777777878DJDE6F56565666577666567655677777FBEDSKMKKMMMNMNNNNNONOOMNONNNNLMNMNNOMLKMMNNLNMMO" +
  "LMNNLLMLNMNNKMMMNMMNQQKJMNMPQQQRRQOPJLQRRQROLLQQSRRRKOKLMLLNMMPPOOQNQRQQRRRRRSRRRRRQU";
const EOS = 256;

interface HuffmanCode {
  /** Code of each symbol and its length in bits. */
  codes: number[];
  lengths: number[];
  /** Per length: the first code, how many codes, and where their symbols start in `symbols`. */
  firstCode: number[];
  count: number[];
  firstIndex: number[];
  /** Symbols ordered by (length, symbol). */
  symbols: number[];
}

const HUFFMAN: HuffmanCode = buildHuffman();

function buildHuffman(): HuffmanCode {
  const lengths = [...HUFFMAN_LENGTHS].map((c) => parseInt(c, 36));
  if (lengths.length !== EOS + 1) throw new Error("Huffman table must have 257 lengths");
  const symbols = lengths.map((_, s) => s).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes = new Array<number>(lengths.length).fill(0);
  const firstCode = new Array<number>(31).fill(0);
  const count = new Array<number>(31).fill(0);
  const firstIndex = new Array<number>(31).fill(0);
  let code = 0;
  let previous = lengths[symbols[0]!]!;
  symbols.forEach((symbol, i) => {
    const length = lengths[symbol]!;
    if (i > 0) code = (code + 1) * 2 ** (length - previous);
    previous = length;
    codes[symbol] = code;
    if (count[length] === 0) {
      firstCode[length] = code;
      firstIndex[length] = i;
    }
    count[length]!++;
  });
  return { codes, lengths, firstCode, count, firstIndex, symbols };
}

/**
 * Decodes a Huffman-coded HPACK string (RFC 7541 §5.2).
 * @throws {Error} When the padding is longer than 7 bits, is not all ones, or holds EOS.
 */
export function huffmanDecode(data: Uint8Array): Uint8Array {
  const { firstCode, count, firstIndex, symbols } = HUFFMAN;
  const out: number[] = [];
  let code = 0;
  let length = 0;
  let ones = true; // whether the bits of the current partial code are all ones
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >> bit) & 1;
      code = code * 2 + b;
      length++;
      ones &&= b === 1;
      const offset = code - firstCode[length]!;
      if (count[length]! > 0 && offset >= 0 && offset < count[length]!) {
        const symbol = symbols[firstIndex[length]! + offset]!;
        if (symbol === EOS) throw new HpackError("Huffman string holds EOS");
        out.push(symbol);
        code = 0;
        length = 0;
        ones = true;
      } else if (length >= 30) {
        throw new HpackError("bad Huffman code");
      }
    }
  }
  if (length > 7 || !ones) throw new HpackError("bad Huffman padding");
  return Uint8Array.from(out);
}

/** Huffman-codes a string (RFC 7541 §5.2); used by tests to build client-like frames. */
export function huffmanEncode(data: Uint8Array): Uint8Array {
  const { codes, lengths } = HUFFMAN;
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const symbol of data) {
    let length = lengths[symbol]!;
    const code = codes[symbol]!;
    while (length > 0) {
      const take = Math.min(length, 8 - bits);
      const chunk = Math.floor(code / 2 ** (length - take)) & ((1 << take) - 1);
      acc = (acc << take) | chunk;
      bits += take;
      length -= take;
      if (bits === 8) {
        out.push(acc);
        acc = 0;
        bits = 0;
      }
    }
  }
  if (bits > 0) out.push((acc << (8 - bits)) | ((1 << (8 - bits)) - 1));
  return Uint8Array.from(out);
}
