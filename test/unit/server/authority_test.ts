/**
 * Unit tests of the `:authority` rewriter on hand-built HTTP/2 frames. A small HPACK decoder
 * written here (independent of the rewriter's table tracking) plays both sides: it decodes the
 * client's original blocks and the rewritten blocks the server would see, with its own dynamic
 * table each, so table-consistency mistakes show up as wrong header lists.
 */
import assert from "node:assert/strict";
import {
  AuthorityRewriter,
  huffmanDecode,
  huffmanEncode,
  MAX_UNANSWERED,
} from "../../../src/server/authority.ts";

import { frameHeader, hpackInt } from "../../helpers/h2.ts";
const enc = new TextEncoder();
const dec = new TextDecoder();
const PREFACE = enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SOCK = "/run/ocid/ocid.sock";

// ---- HPACK building blocks (RFC 7541 §5, §6) ----

const int = hpackInt;

function str(value: string, huffman = false): number[] {
  const raw = enc.encode(value);
  const bytes = huffman ? huffmanEncode(raw) : raw;
  return [...int(huffman ? 0x80 : 0, 7, bytes.length), ...bytes];
}

type Kind = "incremental" | "without" | "never";
const KIND: Record<Kind, [number, number]> = {
  incremental: [0x40, 6],
  without: [0x00, 4],
  never: [0x10, 4],
};

/** A literal representation with an indexed name. */
function lit(kind: Kind, nameIndex: number, value: string, huffman = false): number[] {
  const [high, bits] = KIND[kind];
  return [...int(high, bits, nameIndex), ...str(value, huffman)];
}

/** A literal representation with a literal name. */
function litName(kind: Kind, name: string, value: string, huffman = false): number[] {
  const [high] = KIND[kind];
  return [high, ...str(name, huffman), ...str(value, huffman)];
}

const indexed = (index: number): number[] => int(0x80, 7, index);
const sizeUpdate = (size: number): number[] => int(0x20, 5, size);

// ---- frames ----

function frame(type: number, flags: number, stream: number, payload: ArrayLike<number>): number[] {
  return [...frameHeader(payload.length, type, flags, stream), ...Array.from(payload)];
}

const SETTINGS = frame(4, 0, 0, [0, 4, 0, 0, 0xff, 0xff]);
const headers = (stream: number, block: number[], flags = 0x4) => frame(1, flags, stream, block);
const data = (stream: number, body: number[]) => frame(0, 0x1, stream, body);

function bytes(...parts: number[][]): Uint8Array {
  return Uint8Array.from(parts.flat());
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Feeds a stream in the given chunks and returns everything the rewriter emitted. */
function run(rewriter: AuthorityRewriter, chunks: Uint8Array[]): Uint8Array {
  return concat(chunks.flatMap((c) => rewriter.push(c)));
}

// ---- an independent HPACK decoder and frame parser (the "server") ----

const STATIC: [string, string][] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
]; // deno-fmt-ignore

class Decoder {
  table: [string, string][] = [];
  max = 4096;

  #size() {
    return this.table.reduce((n, [k, v]) => n + k.length + v.length + 32, 0);
  }
  #evict() {
    while (this.#size() > this.max) this.table.pop();
  }
  #entry(index: number): [string, string] {
    const e = index <= 61 ? STATIC[index - 1] : this.table[index - 62];
    if (!e) throw new Error(`bad index ${index}`);
    return e;
  }

  decode(block: Uint8Array): [string, string][] {
    let pos = 0;
    const readInt = (bits: number) => {
      const max = (1 << bits) - 1;
      let v = block[pos++]! & max;
      if (v < max) return v;
      let m = 0;
      for (;;) {
        const b = block[pos++]!;
        v += (b & 127) * 2 ** m;
        m += 7;
        if (!(b & 128)) return v;
      }
    };
    const readStr = () => {
      const h = (block[pos]! & 0x80) !== 0;
      const n = readInt(7);
      const raw = block.subarray(pos, pos + n);
      pos += n;
      return Array.from(h ? huffmanDecode(raw) : raw, (c) => String.fromCharCode(c)).join("");
    };
    const out: [string, string][] = [];
    while (pos < block.length) {
      const b = block[pos]!;
      if (b & 0x80) {
        out.push(this.#entry(readInt(7)));
      } else if ((b & 0xe0) === 0x20) {
        this.max = readInt(5);
        this.#evict();
      } else {
        const incremental = (b & 0xc0) === 0x40;
        const idx = readInt(incremental ? 6 : 4);
        const name = idx === 0 ? readStr() : this.#entry(idx)[0];
        const value = readStr();
        out.push([name, value]);
        if (incremental) {
          this.table.unshift([name, value]);
          this.#evict();
        }
      }
    }
    return out;
  }
}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/** Splits a client stream (preface first) into frames. */
function parseFrames(stream: Uint8Array): Frame[] {
  assert.deepEqual(stream.subarray(0, 24), PREFACE);
  const frames: Frame[] = [];
  let pos = 24;
  while (pos < stream.length) {
    const len = (stream[pos]! << 16) | (stream[pos + 1]! << 8) | stream[pos + 2]!;
    frames.push({
      type: stream[pos + 3]!,
      flags: stream[pos + 4]!,
      stream: new DataView(stream.buffer, stream.byteOffset + pos + 5, 4).getUint32(0) &
        0x7fffffff,
      payload: stream.subarray(pos + 9, pos + 9 + len),
    });
    pos += 9 + len;
  }
  assert.equal(pos, stream.length, "the stream ends on a frame boundary");
  return frames;
}

/** Decodes every header block of a client stream, as a server would. */
function headerLists(stream: Uint8Array): [string, string][][] {
  const decoder = new Decoder();
  const lists: [string, string][][] = [];
  let parts: Uint8Array[] = [];
  for (const f of parseFrames(stream)) {
    if (f.type === 1) {
      let p = f.payload;
      if (f.flags & 0x8) p = p.subarray(1, p.length - p[0]!);
      if (f.flags & 0x20) p = p.subarray(5);
      parts = [p];
    } else if (f.type === 9) {
      parts.push(f.payload);
    } else {
      continue;
    }
    if (f.flags & 0x4) lists.push(decoder.decode(concat(parts)));
  }
  return lists;
}

/** What the server should see: the client's headers with :authority replaced. */
function expected(lists: [string, string][][], replace: (v: string) => string) {
  return lists.map((l) =>
    l.map(([k, v]): [string, string] => [k, k === ":authority" ? replace(v) : v])
  );
}

const toLocalhost = (v: string) => (v === "" ? v : "localhost");

// ---- a realistic two-request stream ----

/** What Go's grpc client sends: :authority with incremental indexing, then indexed. */
function goLikeStream(huffman: boolean): Uint8Array {
  const first = [
    ...indexed(3), // :method POST
    ...indexed(6), // :scheme http
    ...lit("incremental", 4, "/test.Echo/Say", huffman), // :path, table 63 after next
    ...lit("incremental", 1, SOCK, huffman), // :authority → dynamic 62
    ...lit("incremental", 31, "application/grpc", huffman), // content-type
    ...litName("incremental", "te", "trailers", huffman),
  ];
  const second = [
    ...indexed(3),
    ...indexed(6),
    ...indexed(65), // :path /test.Echo/Say (4th newest)
    ...indexed(64), // :authority (3rd newest)
    ...indexed(63),
    ...indexed(62),
  ];
  return bytes(
    [...PREFACE],
    SETTINGS,
    headers(1, first),
    data(1, [0, 0, 0, 0, 2, 8, 1]),
    headers(3, second),
    data(3, [0, 0, 0, 0, 0]),
  );
}

Deno.test("AuthorityRewriter.push() passes a stream without HEADERS through without copying", () => {
  const rewriter = new AuthorityRewriter();
  const a = bytes([...PREFACE], SETTINGS);
  const b = bytes(data(1, [1, 2, 3]), frame(8, 0, 0, [0, 0, 1, 0]));
  const outA = rewriter.push(a);
  const outB = rewriter.push(b);
  assert.equal(outA.length, 1);
  assert.equal(outA[0], a, "the very same chunk object comes back");
  assert.equal(outB.length, 1);
  assert.equal(outB[0], b);
  assert.equal(rewriter.failure, undefined);
});

for (const huffman of [false, true]) {
  const coding = huffman ? "Huffman-coded" : "raw";
  Deno.test(`AuthorityRewriter.push() rewrites a ${coding} path and its indexed reuse`, () => {
    const input = goLikeStream(huffman);
    const rewriter = new AuthorityRewriter();
    const output = run(rewriter, [input]);
    const original = headerLists(input);
    assert.deepEqual(original[0]!.find(([k]) => k === ":authority"), [":authority", SOCK]);
    assert.deepEqual(original[1]!.find(([k]) => k === ":authority"), [":authority", SOCK]);
    const seen = headerLists(output);
    assert.deepEqual(seen, expected(original, toLocalhost));
    assert.deepEqual(seen[1]!.find(([k]) => k === ":authority"), [":authority", "localhost"]);
    assert.equal(rewriter.rewrites, 1, "the indexed reference needs no rewrite");
    assert.equal(rewriter.failure, undefined);
    // DATA frames and their stream ids survive.
    const dataFrames = parseFrames(output).filter((f) => f.type === 0);
    assert.deepEqual(dataFrames.map((f) => f.stream), [1, 3]);
    // END_STREAM and the other flags of the HEADERS frames are kept.
    const hs = parseFrames(output).filter((f) => f.type === 1);
    assert.deepEqual(hs.map((f) => f.flags), [0x4, 0x4]);
  });
}

Deno.test("AuthorityRewriter.push() rewrites every literal kind and literal names", () => {
  const block = [
    ...indexed(3),
    ...lit("without", 1, SOCK),
    ...lit("never", 1, SOCK, true),
    ...litName("without", ":authority", SOCK),
    ...litName("incremental", ":authority", SOCK, true), // dynamic 62 named :authority
    ...lit("without", 62, "/other.sock"), // name from the dynamic table
    ...lit("incremental", 62, "/third.sock"), // dynamic name index, with indexing
    ...indexed(1), // static :authority with an empty value stays
  ];
  const input = bytes([...PREFACE], headers(1, block, 0x5));
  const rewriter = new AuthorityRewriter();
  const output = run(rewriter, [input]);
  const seen = headerLists(output);
  assert.deepEqual(seen, expected(headerLists(input), toLocalhost));
  assert.equal(seen[0]!.filter(([, v]) => v === "localhost").length, 6);
  assert.equal(rewriter.rewrites, 6);
  assert.equal(parseFrames(output)[0]!.flags, 0x5, "END_STREAM | END_HEADERS kept");
  // The "never indexed" kind stays never indexed.
  const out = parseFrames(output)[0]!.payload;
  const neverAt = 1 + lit("without", 1, "localhost").length;
  assert.equal(out[neverAt]! & 0xf0, 0x10);
});

Deno.test("AuthorityRewriter.push() keeps a short indexed value no longer than the client's", () => {
  // A 4-byte path becomes "loca" so the server's table entry is never larger than the
  // client's; eviction then keeps the two tables in step.
  const input = bytes(
    [...PREFACE],
    headers(1, [...sizeUpdate(100), ...lit("incremental", 1, "/a.s"), ...indexed(62)]),
    headers(3, [...lit("incremental", 58, "x".repeat(10)), ...indexed(62), ...indexed(63)]),
    headers(5, [...lit("incremental", 58, "y"), ...indexed(62), ...indexed(63)]),
  );
  const seen = headerLists(run(new AuthorityRewriter(), [input]));
  assert.deepEqual(seen, expected(headerLists(input), (v) => "localhost".slice(0, v.length)));
});

Deno.test("AuthorityRewriter.push() follows table size updates and eviction", () => {
  // Small table: inserting the user-agent evicts the :authority entry on the client; the next
  // :authority is sent again as a literal and must be rewritten, and index 62/63 must resolve
  // to the same fields on both sides.
  const ua = "grpc-go/1.33.3";
  const input = bytes(
    [...PREFACE],
    headers(1, [...sizeUpdate(120), ...lit("incremental", 1, SOCK), ...lit("incremental", 58, ua)]),
    headers(3, [...indexed(62), ...lit("incremental", 1, SOCK), ...indexed(62), ...indexed(63)]),
    headers(5, [...sizeUpdate(0), ...sizeUpdate(4096), ...lit("without", 1, SOCK, true)]),
  );
  const rewriter = new AuthorityRewriter();
  const output = run(rewriter, [input]);
  assert.deepEqual(headerLists(output), expected(headerLists(input), toLocalhost));
  assert.equal(rewriter.rewrites, 3);
});

Deno.test("AuthorityRewriter.push() tracks entry sizes exactly (RFC 7541 §4.1)", () => {
  // 61 + 39 octets fill a 100-octet table exactly: the :authority entry must still be there
  // when a literal names it by dynamic index 63.
  const input = bytes(
    [...PREFACE],
    headers(1, [
      ...sizeUpdate(100),
      ...litName("incremental", ":authority", SOCK), // 10 + 19 + 32 = 61
      ...litName("incremental", "x-a", "abcd"), // 3 + 4 + 32 = 39
      ...lit("without", 63, SOCK),
    ]),
  );
  const rewriter = new AuthorityRewriter();
  const seen = headerLists(run(rewriter, [input]));
  assert.equal(rewriter.failure, undefined);
  assert.deepEqual(seen, expected(headerLists(input), toLocalhost));
  assert.deepEqual(seen[0]![2], [":authority", "localhost"]);
});

Deno.test("AuthorityRewriter.push() rewrites across CONTINUATION frames", () => {
  const block = goLikeStream(false);
  const first = parseFrames(block).find((f) => f.type === 1)!.payload;
  // Split the block inside the :authority string: 3 pieces over HEADERS + 2 CONTINUATIONs.
  const cut1 = 5;
  const cut2 = first.indexOf(enc.encode("/")[0]!, 8) + 4;
  const input = bytes(
    [...PREFACE],
    frame(1, 0x1, 1, first.subarray(0, cut1)),
    frame(9, 0, 1, first.subarray(cut1, cut2)),
    frame(9, 0x4, 1, first.subarray(cut2)),
    data(1, [9]),
  );
  const rewriter = new AuthorityRewriter();
  const output = run(rewriter, [input]);
  assert.deepEqual(headerLists(output), expected(headerLists(input), toLocalhost));
  const frames = parseFrames(output);
  assert.equal(frames[0]!.type, 1);
  assert.equal(frames[0]!.flags, 0x5, "END_STREAM kept, END_HEADERS on the rebuilt frame");
  assert.equal(frames[1]!.type, 0);
});

Deno.test("AuthorityRewriter.push() handles PADDED and PRIORITY HEADERS", () => {
  const block = [...indexed(3), ...lit("incremental", 1, SOCK), ...indexed(62)];
  const priority = [0x80, 0, 0, 3, 15]; // exclusive, depends on stream 3, weight 15
  const padding = [0, 0, 0, 0, 0, 0, 0];
  const input = bytes(
    [...PREFACE],
    headers(1, [padding.length, ...priority, ...block, ...padding], 0x4 | 0x8 | 0x20),
    headers(3, [2, ...block.slice(0, 1), ...indexed(62), 0, 0], 0x4 | 0x8),
    headers(5, [...priority, ...indexed(62)], 0x4 | 0x20),
  );
  const output = run(new AuthorityRewriter(), [input]);
  assert.deepEqual(headerLists(output), expected(headerLists(input), toLocalhost));
  const frames = parseFrames(output);
  assert.equal(frames[0]!.flags, 0x4 | 0x20, "padding dropped, priority kept");
  assert.deepEqual([...frames[0]!.payload.subarray(0, 5)], priority);
  // Frames that needed no rewrite come back byte for byte, padding included.
  assert.deepEqual(frames[1]!.flags, 0x4 | 0x8);
  assert.deepEqual(frames[2]!.flags, 0x4 | 0x20);
});

Deno.test("AuthorityRewriter.push() gives the same output for every chunk boundary", () => {
  const input = goLikeStream(true);
  const whole = run(new AuthorityRewriter(), [input]);
  assert.deepEqual(headerLists(whole), expected(headerLists(input), toLocalhost));
  for (let i = 0; i <= input.length; i++) {
    const split = run(new AuthorityRewriter(), [input.subarray(0, i), input.subarray(i)]);
    assert.deepEqual(split, whole, `split at byte ${i}`);
  }
  for (let i = 0; i < input.length; i += 7) {
    for (let j = i; j <= input.length; j += 3) {
      const three = [input.subarray(0, i), input.subarray(i, j), input.subarray(j)];
      assert.deepEqual(run(new AuthorityRewriter(), three), whole, `split at ${i} and ${j}`);
    }
  }
  const oneByOne = run(new AuthorityRewriter(), [...input].map((b) => Uint8Array.of(b)));
  assert.deepEqual(oneByOne, whole, "one byte per chunk");
});

Deno.test("AuthorityRewriter.push() drops client GOAWAY frames at every chunk boundary", () => {
  // Deno's node:http2 server can crash on a client GOAWAY (denoland/deno#36788); the socket
  // closing after it ends the session all the same.
  const goaway = frame(7, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0, 0x64, 0x65, 0x62, 0x75, 0x67]);
  const ping = frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
  const go = goLikeStream(true);
  const input = bytes([...go], goaway, ping, data(5, [9]));
  const wanted = bytes([...run(new AuthorityRewriter(), [go])], ping, data(5, [9]));
  const rewriter = new AuthorityRewriter();
  assert.deepEqual(run(rewriter, [input]), wanted);
  assert.equal(rewriter.droppedGoaways, 1);
  assert.equal(rewriter.failure, undefined);
  for (let i = go.length - 3; i <= input.length; i++) {
    const split = run(new AuthorityRewriter(), [input.subarray(0, i), input.subarray(i)]);
    assert.deepEqual(split, wanted, `split at byte ${i}`);
  }
  const oneByOne = run(new AuthorityRewriter(), [...input].map((b) => Uint8Array.of(b)));
  assert.deepEqual(oneByOne, wanted, "one byte per chunk");
});

const ping = (flags = 0) => frame(6, flags, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
const SETTINGS_ACK = frame(4, 0x1, 0, []);

Deno.test("AuthorityRewriter.push() drops the PING ACKs the server did not ask for", () => {
  // Deno's node:http2 treats one as a connection error, and a client that went on sending
  // after it crashed the daemon (SIGSEGV, "double free or corruption").
  const rewriter = new AuthorityRewriter();
  const head = bytes([...PREFACE], SETTINGS);
  const input = bytes([...head], ping(0x1), data(1, [7]), ping(0x1));
  assert.deepEqual(run(rewriter, [input]), bytes([...head], data(1, [7])));
  assert.equal(rewriter.droppedPingAcks, 2);
  assert.equal(rewriter.refused, undefined);
  // Every chunk boundary, down to one byte per chunk.
  for (let i = 0; i <= input.length; i++) {
    const split = run(new AuthorityRewriter(), [input.subarray(0, i), input.subarray(i)]);
    assert.deepEqual(split, bytes([...head], data(1, [7])), `split at byte ${i}`);
  }
  // One ACK passes per PING the server sent, whatever the server's chunks.
  const asked = new AuthorityRewriter();
  run(asked, [head]);
  const server = bytes(SETTINGS, ping(), SETTINGS_ACK, ping());
  for (const b of server) asked.observeServer(Uint8Array.of(b));
  assert.deepEqual(
    run(asked, [bytes(ping(0x1), ping(0x1), ping(0x1))]),
    bytes(ping(0x1), ping(0x1)),
  );
  assert.equal(asked.droppedPingAcks, 1);
});

Deno.test("AuthorityRewriter.push() refuses a client with too many unanswered SETTINGS and PINGs", () => {
  // nghttp2 ends a session with 1000 pending acknowledgements as "flooding", through the same
  // crashing path of node:http2; ocid closes the connection first.
  const rewriter = new AuthorityRewriter();
  const head = bytes([...PREFACE], SETTINGS);
  const flood: number[][] = [];
  for (let k = 0; k < MAX_UNANSWERED + 50; k++) flood.push(k % 2 ? ping() : SETTINGS);
  const out = run(rewriter, [head, bytes(...flood)]);
  // The preface's SETTINGS and MAX_UNANSWERED - 1 more go through, nothing after.
  assert.deepEqual(out, bytes([...head], ...flood.slice(0, MAX_UNANSWERED - 1)));
  assert.match(rewriter.refused ?? "", /more than 200 SETTINGS and PING/);
  assert.deepEqual(rewriter.push(bytes(data(1, [1]))), []);

  // Acknowledged frames do not count: a client may ping forever, one at a time.
  const polite = new AuthorityRewriter();
  run(polite, [head]);
  polite.observeServer(Uint8Array.from(SETTINGS_ACK));
  for (let k = 0; k < 5 * MAX_UNANSWERED; k++) {
    assert.deepEqual(run(polite, [bytes(ping())]), bytes(ping()));
    polite.observeServer(Uint8Array.from(ping(0x1)));
  }
  assert.equal(polite.refused, undefined);
});

Deno.test("AuthorityRewriter.push() keeps its guards after it stopped rewriting", () => {
  // An HPACK index the rewriter cannot resolve, then a GOAWAY and an unsolicited PING ACK.
  const bad = headers(1, [...indexed(70)]);
  const later = headers(3, lit("without", 1, SOCK));
  const goaway = frame(7, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]);
  const input = bytes([...PREFACE], bad, goaway, ping(0x1), later, data(3, [1]));
  const rewriter = new AuthorityRewriter();
  assert.deepEqual(run(rewriter, [input]), bytes([...PREFACE], bad, later, data(3, [1])));
  assert.match(rewriter.failure ?? "", /index 70/);
  assert.equal(rewriter.droppedGoaways, 1);
  assert.equal(rewriter.droppedPingAcks, 1);
  // A header block larger than 1 MiB is passed through, and so is what follows it.
  const big = new Array<number>(16_000).fill(0x61);
  const frames = [frame(1, 0, 5, big)];
  for (let k = 0; k < 70; k++) frames.push(frame(9, k === 69 ? 0x4 : 0, 5, big));
  const huge = bytes([...PREFACE], ...frames, goaway, data(5, [2]));
  const r2 = new AuthorityRewriter();
  assert.deepEqual(run(r2, [huge]), bytes([...PREFACE], ...frames, data(5, [2])));
  assert.match(r2.failure ?? "", /larger than/);
});

Deno.test("AuthorityRewriter.push() takes a header name of half a megabyte", () => {
  // The name was decoded with one spread argument per byte: a RangeError out of push().
  const block = [...litName("incremental", "x".repeat(500_000), "v"), ...lit("without", 1, SOCK)];
  const frames = [frame(1, 0, 1, block.slice(0, 16_384))];
  for (let off = 16_384; off < block.length; off += 16_384) {
    const end = Math.min(off + 16_384, block.length);
    frames.push(frame(9, end === block.length ? 0x4 : 0, 1, block.slice(off, end)));
  }
  const input = bytes([...PREFACE], ...frames);
  const rewriter = new AuthorityRewriter();
  const output = run(rewriter, [input]);
  assert.equal(rewriter.failure, undefined);
  assert.equal(rewriter.rewrites, 1);
  assert.deepEqual(headerLists(output), expected(headerLists(input), toLocalhost));
});

Deno.test("AuthorityRewriter.push() splits a large rewritten block into 16 KiB frames", () => {
  const big = "b".repeat(40_000);
  const block = [...lit("incremental", 1, SOCK), ...litName("without", "x-big", big)];
  // The client may use larger frames when the server allows; send one 40 KB HEADERS frame.
  const input = bytes([...PREFACE], headers(7, block, 0x5));
  const output = run(new AuthorityRewriter(), [input]);
  const frames = parseFrames(output);
  assert.ok(frames.length >= 3);
  assert.ok(frames.every((f) => f.payload.length <= 16_384));
  assert.deepEqual(frames.map((f) => f.type), [1, ...frames.slice(1).map(() => 9)]);
  assert.deepEqual(frames.map((f) => f.flags & 0x4), [...frames.slice(1).map(() => 0), 0x4]);
  assert.equal(frames[0]!.flags & 0x1, 0x1);
  assert.ok(frames.every((f) => f.stream === 7));
  assert.deepEqual(headerLists(output), expected(headerLists(input), toLocalhost));
});

Deno.test("AuthorityRewriter.push() passes malformed input through and stops rewriting", async (t) => {
  await t.step("a stream without the preface", () => {
    const input = bytes(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n") as unknown as number[]);
    const rewriter = new AuthorityRewriter();
    assert.deepEqual(run(rewriter, [input]), input);
    assert.match(rewriter.failure ?? "", /preface/);
  });
  await t.step("an HPACK index that is not in the table", () => {
    const bad = headers(1, [...indexed(70), ...lit("without", 1, SOCK)]);
    const later = headers(3, lit("without", 1, SOCK));
    const input = bytes([...PREFACE], bad, later);
    const rewriter = new AuthorityRewriter();
    assert.deepEqual(run(rewriter, [input]), input);
    assert.match(rewriter.failure ?? "", /index 70/);
  });
  await t.step("a header block interrupted by another frame", () => {
    const block = lit("without", 1, SOCK);
    const input = bytes(
      [...PREFACE],
      frame(1, 0, 1, block.slice(0, 4)),
      data(1, [1]),
      frame(9, 0x4, 1, block.slice(4)),
    );
    const rewriter = new AuthorityRewriter();
    for (let i = 0; i <= input.length; i++) {
      const r = new AuthorityRewriter();
      assert.deepEqual(run(r, [input.subarray(0, i), input.subarray(i)]), input, `split ${i}`);
    }
    assert.deepEqual(run(rewriter, [input]), input);
    assert.match(rewriter.failure ?? "", /interrupted/);
  });
});

Deno.test("huffmanDecode() and huffmanEncode() match RFC 7541 Appendix C.4", () => {
  const vectors: [string, string][] = [
    ["www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"],
    ["no-cache", "a8eb10649cbf"],
    ["custom-key", "25a849e95ba97d7f"],
    ["custom-value", "25a849e95bb8e8b4bf"],
  ];
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  for (const [text, code] of vectors) {
    assert.equal(hex(huffmanEncode(enc.encode(text))), code);
    assert.equal(dec.decode(huffmanDecode(huffmanEncode(enc.encode(text)))), text);
  }
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(huffmanDecode(huffmanEncode(all)), all);
  assert.throws(() => huffmanDecode(Uint8Array.of(0xff, 0xff, 0xff, 0xff)), /EOS|padding/);
  assert.throws(() => huffmanDecode(Uint8Array.of(0xf1, 0x00)), /padding|code/);
});
