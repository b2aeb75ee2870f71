/**
 * What a local client sends on the CRI socket must never bring the daemon down or wedge it.
 * Raw HTTP/2 over the daemon's unix socket, with hand-built frames (HPACK literals without
 * Huffman coding): connections closed half-way, stream resets, client GOAWAY frames (which
 * once aborted Deno's node:http2 inside nghttp2, denoland/deno#36788), PING ACKs nobody asked
 * for and SETTINGS/PING floods (both killed the daemon before the rewriter dropped or refused
 * them), WINDOW_UPDATE abuse, invalid frames, header blocks split across CONTINUATION frames (legal,
 * and they go through ocid's `:authority` rewriter), huge and broken header blocks, and many
 * connections opened and dropped or left idle. After each case the daemon's process must be
 * alive and answer Version and ListPodSandbox on a new connection.
 *
 * The checks are what matters: the daemon survives and serves others. Where the protocol
 * demands that the server refuse something, the test only checks that the offending
 * connection or stream does not get a normal answer, not which nghttp2 error code it gets.
 * The daemon has no CNI network (bridge name ocidt43 and 10.234.43.0/24 are reserved for it).
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { call, criClients, criMethod } from "../../src/cri/proto.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { frameHeader, hpackInt } from "../helpers/h2.ts";

const enc = new TextEncoder();
const PREFACE = enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const DATA = 0x0;
const HEADERS = 0x1;
const PRIORITY = 0x2;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PUSH_PROMISE = 0x5;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;

const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;

const VERSION_PATH = "/runtime.v1.RuntimeService/Version";
/** A gRPC message frame holding VersionRequest{version: "v1"}. */
const VERSION_MESSAGE = Uint8Array.of(0, 0, 0, 0, 4, 0x0a, 0x02, 0x76, 0x31);

// ---- frames and HPACK ----

function frame(
  type: number,
  flags: number,
  stream: number,
  payload: ArrayLike<number> = [],
): Uint8Array {
  const n = payload.length;
  const out = new Uint8Array(9 + n);
  out.set(frameHeader(n, type, flags, stream));
  out.set(payload, 9);
  return out;
}

function u32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

function settings(entries: [number, number][] = []): Uint8Array {
  return frame(
    SETTINGS,
    0,
    0,
    entries.flatMap(([id, value]) => [id >> 8, id & 0xff, ...u32(value)]),
  );
}

const settingsAck = () => frame(SETTINGS, ACK, 0);
const rst = (stream: number, code = 8) => frame(RST_STREAM, 0, stream, u32(code));
const goaway = (last: number, code = 0, debug: number[] = []) =>
  frame(GOAWAY, 0, 0, [...u32(last), ...u32(code), ...debug]);
const windowUpdate = (stream: number, increment: number) =>
  frame(WINDOW_UPDATE, 0, stream, u32(increment));
const ping = (ack = false) => frame(PING, ack ? ACK : 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]);
const data = (stream: number, body: Uint8Array, flags = END_STREAM) =>
  frame(DATA, flags, stream, body);

function hpackString(value: string | Uint8Array): number[] {
  const bytes = typeof value === "string" ? enc.encode(value) : value;
  return [...hpackInt(0, 7, bytes.length), ...bytes];
}

/** A literal without indexing, with a static name index. */
const literal = (nameIndex: number, value: string) => [
  ...hpackInt(0, 4, nameIndex),
  ...hpackString(value),
];
/** A literal without indexing, with a literal name. */
const literalName = (name: string, value: string | Uint8Array) => [
  0,
  ...hpackString(name),
  ...hpackString(value),
];

/** The header block of a gRPC request; `authority` is what Go clients send, or localhost. */
function requestBlock(
  path = VERSION_PATH,
  authority = "localhost",
  extra: number[] = [],
): number[] {
  return [
    0x83, // :method POST
    0x86, // :scheme http
    ...literal(4, path), // :path
    ...literal(1, authority), // :authority
    ...literal(31, "application/grpc"), // content-type
    ...literalName("te", "trailers"),
    ...extra,
  ];
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** HEADERS + DATA of a whole Version call on `stream`. */
function versionCall(stream: number, authority = "localhost"): Uint8Array {
  return concat(
    frame(HEADERS, END_HEADERS, stream, requestBlock(VERSION_PATH, authority)),
    data(stream, VERSION_MESSAGE),
  );
}

// ---- a raw client ----

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/** A raw HTTP/2 client connection that records the frames the server sends. */
class Raw {
  readonly frames: Frame[] = [];
  #closed = false;
  readonly #conn: Deno.UnixConn;
  readonly #done: Promise<void>;
  #waiters: (() => void)[] = [];

  private constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
    this.#done = this.#readLoop();
  }

  /** Connects; with `preface`, also sends the client preface and an empty SETTINGS frame. */
  static async open(path: string, preface = true): Promise<Raw> {
    let conn;
    for (let attempt = 0;; attempt++) {
      try {
        conn = await Deno.connect({ transport: "unix", path });
        break;
      } catch (error) {
        // The listen backlog is full (EAGAIN on unix sockets): a real client retries too.
        if (!(error instanceof Deno.errors.WouldBlock) || attempt >= 100) throw error;
        await sleep(10);
      }
    }
    const raw = new Raw(conn);
    if (preface) await raw.send(PREFACE, settings());
    return raw;
  }

  /** Whether the server closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends bytes; a connection the server already closed swallows them. */
  async send(...parts: Uint8Array[]): Promise<void> {
    const bytes = parts.length === 1 ? parts[0]! : concat(...parts);
    try {
      for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
    } catch {
      // reset or broken pipe: the server is done with this connection
    }
  }

  /** Waits until `predicate` holds for the frames so far, the connection closes, or timeout. */
  async until(predicate: (frames: Frame[]) => boolean, timeoutMs = 5_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.frames)) {
      if (this.#closed || Date.now() > deadline) return predicate(this.frames);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  /** Whether a complete answer (a DATA frame, then trailers ending the stream) came on `stream`. */
  answered(stream: number): boolean {
    const on = this.frames.filter((f) => f.stream === stream);
    const body = on.reduce((n, f) => n + (f.type === DATA ? f.payload.length : 0), 0);
    return body > 5 && on.some((f) => f.type === HEADERS && (f.flags & END_STREAM) !== 0);
  }

  /** Whether the server sent GOAWAY or closed the connection. */
  get refused(): boolean {
    return this.#closed || this.frames.some((f) => f.type === GOAWAY);
  }

  /** Closes the connection (abruptly, no GOAWAY) and waits for the reader. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#done;
  }

  #notify() {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #readLoop(): Promise<void> {
    let buf = new Uint8Array(0);
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        buf = concat(buf, chunk.subarray(0, n));
        while (buf.length >= 9) {
          const length = (buf[0]! << 16) | (buf[1]! << 8) | buf[2]!;
          if (buf.length < 9 + length) break;
          const f: Frame = {
            type: buf[3]!,
            flags: buf[4]!,
            stream: ((buf[5]! & 0x7f) << 24) | (buf[6]! << 16) | (buf[7]! << 8) | buf[8]!,
            payload: buf.slice(9, 9 + length),
          };
          buf = buf.slice(9 + length);
          this.frames.push(f);
          // Acknowledge the server's SETTINGS like a real client.
          if (f.type === SETTINGS && (f.flags & ACK) === 0) await this.send(settingsAck());
        }
        this.#notify();
      }
    } catch {
      // reset by the server
    }
    this.#closed = true;
    this.#notify();
  }
}

// ---- the daemon must be alive and serving ----

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function assertServing(d: TestDaemon, what: string): Promise<void> {
  let exited: Deno.CommandStatus | undefined;
  await Promise.race([d.process.status.then((s) => (exited = s)), sleep(50)]);
  assert.equal(exited, undefined, `the daemon exited after ${what}:\n${d.output().slice(-4000)}`);
  // A new connection each time: the shared clients' connection may be fine while new ones hang.
  const clients = criClients(d.dirs.socket);
  try {
    const version = await call(clients.runtime, "Version", { version: "v1" }, { deadlineMs: 5000 });
    assert.equal(version.runtime_name, "ocid", what);
    await call(clients.runtime, "ListPodSandbox", {}, { deadlineMs: 5000 });
  } catch (error) {
    throw new Error(
      `the daemon does not serve after ${what}: ${error}\n${d.output().slice(-4000)}`,
    );
  } finally {
    clients.close();
  }
}

/** Opens `count` raw connections, runs `abuse` on each (in batches), closes them. */
async function onConnections(
  path: string,
  count: number,
  abuse: (raw: Raw, i: number) => Promise<void>,
  batch = 50,
): Promise<void> {
  for (let from = 0; from < count; from += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - from) }, async (_, k) => {
        const raw = await Raw.open(path, false);
        try {
          await abuse(raw, from + k);
        } finally {
          await raw.close();
        }
      }),
    );
  }
}

Deno.test({
  name: "h2 abuse: no client bytes crash or wedge the daemon",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const d = await startDaemon({ bridge: "ocidt43", subnet: "10.234.43.0/24", noNetwork: true });
    const sock = d.dirs.socket;
    let doing = "";
    const step = async (name: string, fn: () => Promise<void>) => {
      const ok = await t.step(name, async () => {
        try {
          await fn();
        } catch (error) {
          const exited = await Promise.race([d.process.status, sleep(100)]);
          throw new Error(
            `${error} (during ${doing}); daemon exit status: ${JSON.stringify(exited)}\n${
              d.output().slice(-4000)
            }`,
          );
        }
        await assertServing(d, name);
      });
      if (!ok) throw new Error(`step "${name}" failed; not going on with a daemon in doubt`);
    };
    try {
      await step("a raw Version call works (the test's frames are right)", async () => {
        const raw = await Raw.open(sock);
        await raw.send(versionCall(1), versionCall(3, "/run/ocid/ocid.sock"));
        assert.ok(await raw.until(() => raw.answered(1) && raw.answered(3)), "no answer");
        await raw.close();
      });

      await step("connections closed half-way through a request, many times", async () => {
        const whole = concat(PREFACE, settings(), versionCall(1));
        const headersEnd = PREFACE.length + 9 + 9 + requestBlock().length;
        const cuts = [
          10, // half the preface
          PREFACE.length + 4, // half a frame header
          PREFACE.length + 9 + 4, // half the HEADERS frame header
          PREFACE.length + 9 + 9 + 5, // half the header block
          headersEnd, // after HEADERS, before DATA
          headersEnd + 12, // half the DATA frame
          whole.length, // the whole call, closed before the answer
        ];
        await onConnections(sock, 300, async (raw, i) => {
          await raw.send(whole.subarray(0, cuts[i % cuts.length]!));
          if (i % 2) await sleep(5);
        });
        // A header block left open (no END_HEADERS), then closed.
        await onConnections(sock, 100, async (raw) => {
          await raw.send(PREFACE, settings(), frame(HEADERS, 0, 1, requestBlock().slice(0, 9)));
        });
      });

      await step("RST_STREAM right after HEADERS, and RST_STREAM floods", async () => {
        const raw = await Raw.open(sock);
        await raw.send(frame(HEADERS, END_HEADERS, 1, requestBlock()), rst(1));
        // Many streams opened and reset at once (the "rapid reset" pattern).
        const parts: Uint8Array[] = [];
        for (let s = 3; s < 3 + 2 * 2000; s += 2) {
          parts.push(frame(HEADERS, END_HEADERS, s, requestBlock()), rst(s, s % 3 ? 8 : 0));
        }
        await raw.send(...parts);
        // RST_STREAM on streams that never existed and on idle ones: a protocol error, not a crash.
        await raw.send(rst(90_001), rst(2), rst(0));
        await raw.until(() => raw.refused, 2000);
        await raw.close();
        // Thousands of streams the server must reset itself (an upper-case header name, no
        // :path), in one write: each RST_STREAM the server queues counts towards nghttp2's
        // flood limit too.
        const bad = await Raw.open(sock);
        const resets: Uint8Array[] = [];
        for (let s = 1; s < 1 + 2 * 3000; s += 2) {
          const block = s % 4 === 1
            ? requestBlock(VERSION_PATH, "localhost", literalName("A", "b"))
            : [0x83, 0x86];
          resets.push(frame(HEADERS, END_HEADERS | END_STREAM, s, block));
        }
        await bad.send(...resets);
        await bad.until(() => bad.refused, 500);
        for (let k = 0; k < 20; k++) await bad.send(ping(), versionCall(9001 + 2 * k));
        await bad.close();
        // A full call then an RST_STREAM after it completed.
        const other = await Raw.open(sock);
        await other.send(versionCall(1));
        assert.ok(await other.until(() => other.answered(1)), "no answer before the reset");
        await other.send(rst(1), versionCall(3));
        await other.until(() => other.answered(3), 2000);
        await other.close();
      });

      await step("grpc-js calls cancelled mid-flight, in bulk", async () => {
        const clients = criClients(sock);
        const def = criMethod("ListPodSandbox");
        try {
          for (let round = 0; round < 5; round++) {
            const calls = Array.from({ length: 200 }, () =>
              clients.runtime.makeUnaryRequest(
                def.path,
                def.requestSerialize,
                def.responseDeserialize,
                {},
                new grpc.Metadata(),
                {},
                () => {},
              ));
            await sleep(round);
            for (const c of calls) c.cancel();
          }
          await sleep(100);
          await call(clients.runtime, "Version", { version: "v1" }, { deadlineMs: 5000 });
        } finally {
          clients.close();
        }
      });

      await step("client GOAWAY frames, with and without error, mid-stream, twice", async () => {
        const variants: Uint8Array[][] = [
          [goaway(0)],
          [goaway(0, 2, [...enc.encode("bye")])],
          [frame(HEADERS, END_HEADERS, 1, requestBlock()), goaway(1), data(1, VERSION_MESSAGE)],
          [versionCall(1), goaway(1, 0), versionCall(3), goaway(3, 1), versionCall(5)],
          [goaway(0), goaway(0), ping(), settings()],
          [goaway(0x7fffffff, 0xffffffff)],
          [frame(GOAWAY, 0, 0, [0, 0])], // too short: a FRAME_SIZE_ERROR
          [frame(GOAWAY, 0, 1, [...u32(0), ...u32(0)])], // on a stream: a PROTOCOL_ERROR
        ];
        for (const variant of variants) {
          const raw = await Raw.open(sock);
          await raw.send(...variant);
          await raw.until(() => raw.refused, 300);
          await raw.close();
        }
        // The crash of denoland/deno#36788 came after a few hundred calls on a connection.
        for (let round = 0; round < 3; round++) {
          const raw = await Raw.open(sock);
          for (let s = 1; s < 2 * 300; s += 2) await raw.send(versionCall(s));
          await raw.until(() => raw.answered(2 * 300 - 1), 10_000);
          await raw.send(goaway(2 * 300 - 1), versionCall(1001), goaway(0, 2));
          await sleep(20);
          await raw.close();
        }
      });

      await step("PING ACKs nobody asked for, then more frames, many times", async () => {
        // node:http2 fails the session on an unsolicited PING ACK; with the client still
        // sending, the daemon died of SIGSEGV or "double free or corruption" within a few
        // connections. ocid drops such ACKs before node:http2 sees them.
        for (let round = 0; round < 30; round++) {
          doing = `round ${round}`;
          const raw = await Raw.open(sock);
          await raw.send(ping(true), ping(true));
          await raw.until((frames) => frames.length > 0, 200);
          for (let k = 0; k < 20; k++) {
            await raw.send(settingsAck(), versionCall(1 + 2 * k));
            await sleep(1);
          }
          await raw.close();
        }
      });

      await step("a wrong preface or HTTP/1.1, then more bytes, many times", async () => {
        const starts = [
          enc.encode("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"),
          enc.encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"),
          enc.encode("POST /runtime.v1.RuntimeService/Version HTTP/1.1\r\nUpgrade: h2c\r\n\r\n"),
          new Uint8Array(64).fill(0xff),
        ];
        for (let round = 0; round < 30; round++) {
          doing = `round ${round}`;
          const raw = await Raw.open(sock, false);
          await raw.send(starts[round % starts.length]!);
          await raw.until((frames) => frames.length > 0, 100);
          for (let k = 0; k < 20; k++) {
            await raw.send(PREFACE, settings(), versionCall(1 + 2 * k), ping(true));
            await sleep(1);
          }
          await raw.close();
        }
      });

      await step("SETTINGS and PING floods close the connection, not the daemon", async () => {
        // nghttp2 fails a session with 1000 acknowledgements pending ("flooding") through the
        // same crashing path; ocid closes such a connection itself first.
        for (let round = 0; round < 10; round++) {
          doing = `round ${round}`;
          const raw = await Raw.open(sock);
          const flood = round % 2 ? () => ping() : () => settings([[1, 4096]]);
          await raw.send(...Array.from({ length: 5000 }, flood));
          assert.ok(await raw.until(() => raw.closed, 5000), "the flooding connection stays open");
          await raw.send(ping(), versionCall(1));
          await raw.close();
        }
      });

      await step("SETTINGS, PING and WINDOW_UPDATE abuse", async () => {
        const cases: Uint8Array[][] = [
          [ping(true), ping(true)], // unsolicited PING ACKs
          [settings([[2, 2]])], // ENABLE_PUSH out of range
          [settings([[4, 0x80000000]])], // INITIAL_WINDOW_SIZE over 2^31-1
          [settings([[5, 100]])], // MAX_FRAME_SIZE below 16384
          [settings([[5, 1 << 24]])], // MAX_FRAME_SIZE above 2^24-1
          [settings([[0x99, 1]])], // unknown setting: ignored
          [frame(SETTINGS, ACK, 0, [0, 1, 0, 0, 0, 0])], // ACK with a payload
          [frame(SETTINGS, 0, 0, [0, 1, 0])], // not a multiple of 6
          [frame(SETTINGS, 0, 1, [])], // on a stream
          [frame(PING, 0, 0, [1, 2, 3])], // short PING
          [frame(PING, 0, 1, [1, 2, 3, 4, 5, 6, 7, 8])], // PING on a stream
          [windowUpdate(0, 0)], // increment 0 on the connection
          [versionCall(1).subarray(0, 9 + requestBlock().length), windowUpdate(1, 0)],
          [windowUpdate(0, 0x7fffffff), windowUpdate(0, 0x7fffffff)], // overflows the window
          [frame(HEADERS, END_HEADERS, 1, requestBlock()), windowUpdate(1, 0x7fffffff)],
          [frame(WINDOW_UPDATE, 0, 0, [0, 0, 1])], // short
          [windowUpdate(77, 100)], // an idle stream
        ];
        for (const [index, parts] of cases.entries()) {
          doing = `case ${index}`;
          const raw = await Raw.open(sock);
          await raw.send(...parts);
          await raw.until(() => raw.refused, 200);
          await raw.close();
        }
        // A window of one byte: the answer trickles only as the client opens the window.
        const raw = await Raw.open(sock);
        await raw.send(settings([[4, 1]]), versionCall(1));
        await raw.until(() => raw.frames.some((f) => f.type === DATA), 2000);
        for (let k = 0; k < 500 && !raw.answered(1); k++) {
          await raw.send(windowUpdate(1, 1), windowUpdate(0, 1));
          await sleep(5);
        }
        assert.ok(await raw.until(() => raw.answered(1), 2000), "no answer through a tiny window");
        // Many calls stuck on a zero window hold nothing that starves other connections.
        await raw.send(settings([[4, 0]]));
        for (let s = 3; s < 3 + 2 * 500; s += 2) await raw.send(versionCall(s));
        await assertServing(d, "500 calls stuck on a zero window");
        await raw.close();
      });

      await step("invalid frames", async () => {
        const block = requestBlock();
        const cases: Uint8Array[][] = [
          [frame(0xfa, 0, 0, [1, 2, 3]), frame(0xfb, 0xff, 1, [4]), versionCall(1)], // unknown
          [data(0, VERSION_MESSAGE)], // DATA on stream 0
          [frame(HEADERS, END_HEADERS, 0, block)], // HEADERS on stream 0
          [frame(PRIORITY, 0, 0, [0, 0, 0, 1, 16])], // PRIORITY on stream 0
          [frame(PRIORITY, 0, 1, [0, 0, 0, 1, 16])], // depends on itself
          [rst(0)], // RST_STREAM on stream 0
          [frame(PUSH_PROMISE, END_HEADERS, 1, [0, 0, 0, 2, ...block])], // clients never push
          [frame(CONTINUATION, END_HEADERS, 1, block)], // CONTINUATION without HEADERS
          [frame(CONTINUATION, END_HEADERS, 0, block)],
          [frame(HEADERS, 0, 1, block.slice(0, 5)), frame(CONTINUATION, END_HEADERS, 3, [])],
          [frame(HEADERS, 0, 1, block.slice(0, 5)), ping()], // block interrupted
          [frame(HEADERS, END_HEADERS, 2, block)], // even stream id
          [versionCall(5), versionCall(3)], // stream ids going down
          [frame(HEADERS, END_HEADERS | PADDED, 1, [200, ...block])], // padding beyond the frame
          [frame(HEADERS, END_HEADERS | PADDED, 1, [])], // no pad length at all
          [frame(HEADERS, END_HEADERS | 0x20, 1, [0, 0])], // priority cut short
          [frame(HEADERS, END_HEADERS, 1, block), frame(DATA, PADDED, 1, [50, 1, 2])],
          [frame(HEADERS, END_HEADERS, 1, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])], // index
          [frame(HEADERS, END_HEADERS, 1, [0xbe])], // dynamic index 62, table empty
          [frame(HEADERS, END_HEADERS, 1, [0x00, 0x85, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61])],
          [frame(HEADERS, END_HEADERS, 1, [0x3f, 0xe1, 0xff, 0xff, 0x7f])], // table size huge
          [frame(HEADERS, END_HEADERS, 1, [...block, 0x40])], // truncated literal
          [frame(HEADERS, END_HEADERS, 1, block), frame(HEADERS, END_HEADERS, 1, block)],
          [versionCall(1), data(1, VERSION_MESSAGE)], // DATA after END_STREAM
          [frame(HEADERS, END_HEADERS, 1, requestBlock(VERSION_PATH, "", [0x00, 0x00, 0x00]))],
          [frame(HEADERS, END_HEADERS, 1, requestBlock("/no.Such/Method"))],
          [frame(HEADERS, END_HEADERS, 1, requestBlock()), data(1, Uint8Array.of(1, 0xff))],
          [
            frame(HEADERS, END_HEADERS, 1, requestBlock()),
            data(1, Uint8Array.of(0, 0xff, 0xff, 0xff, 0xff)),
          ],
          [new Uint8Array([0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 1])], // 16 MiB frame announced
        ];
        for (const [index, parts] of cases.entries()) {
          doing = `case ${index}`;
          const raw = await Raw.open(sock);
          await raw.send(...parts);
          await raw.until(() => raw.refused, 200);
          await raw.close();
        }
      });

      await step("a header block split across CONTINUATION frames still works", async () => {
        for (const authority of ["localhost", "/run/ocid/ocid.sock"]) {
          const block = requestBlock(VERSION_PATH, authority);
          const raw = await Raw.open(sock);
          // One byte per frame: every representation is cut somewhere.
          const parts = [frame(HEADERS, 0, 1, block.slice(0, 1))];
          for (let k = 1; k < block.length; k++) {
            parts.push(
              frame(CONTINUATION, k === block.length - 1 ? END_HEADERS : 0, 1, [block[k]!]),
            );
          }
          // And each frame in its own write.
          for (const part of parts) await raw.send(part);
          await raw.send(data(1, VERSION_MESSAGE));
          assert.ok(await raw.until(() => raw.answered(1)), `no answer (${authority})`);
          await raw.close();
        }
      });

      await step("huge and pathological header lists", async () => {
        const big = (size: number) => new Uint8Array(size).fill(0x61);
        // 1 MiB of metadata in one literal, spread over CONTINUATION frames.
        for (const size of [64 * 1024, 1 << 20, (1 << 20) + 4096]) {
          const block = requestBlock(
            VERSION_PATH,
            "/run/ocid/ocid.sock",
            literalName("x-big", big(size)),
          );
          const raw = await Raw.open(sock);
          const parts = [frame(HEADERS, 0, 1, block.slice(0, 16_384))];
          for (let off = 16_384; off < block.length; off += 16_384) {
            const end = Math.min(off + 16_384, block.length);
            parts.push(
              frame(CONTINUATION, end === block.length ? END_HEADERS : 0, 1, block.slice(off, end)),
            );
          }
          await raw.send(...parts, data(1, VERSION_MESSAGE), versionCall(3));
          await raw.until(() => raw.refused || raw.answered(3), 2000);
          await raw.close();
        }
        // A huge header *name* (the rewriter reads literal names).
        const nameBlock = [
          ...requestBlock(),
          0,
          ...hpackString(new TextDecoder().decode(big(500_000))),
        ];
        nameBlock.push(...hpackString("v"));
        const raw = await Raw.open(sock);
        const parts = [frame(HEADERS, 0, 1, nameBlock.slice(0, 16_384))];
        for (let off = 16_384; off < nameBlock.length; off += 16_384) {
          const end = Math.min(off + 16_384, nameBlock.length);
          parts.push(
            frame(
              CONTINUATION,
              end === nameBlock.length ? END_HEADERS : 0,
              1,
              nameBlock.slice(off, end),
            ),
          );
        }
        await raw.send(...parts, data(1, VERSION_MESSAGE), versionCall(3));
        await raw.until(() => raw.refused || raw.answered(3), 2000);
        await raw.close();
        // Many small headers.
        const many: number[] = [];
        for (let k = 0; k < 5000; k++) many.push(...literalName(`x-h${k}`, "v"));
        const block = requestBlock(VERSION_PATH, "localhost", many);
        const raw2 = await Raw.open(sock);
        const parts2 = [frame(HEADERS, 0, 1, block.slice(0, 16_384))];
        for (let off = 16_384; off < block.length; off += 16_384) {
          const end = Math.min(off + 16_384, block.length);
          parts2.push(
            frame(CONTINUATION, end === block.length ? END_HEADERS : 0, 1, block.slice(off, end)),
          );
        }
        await raw2.send(...parts2, data(1, VERSION_MESSAGE));
        await raw2.until(() => raw2.refused || raw2.answered(1), 2000);
        await raw2.close();
      });

      await step("hundreds of connections opened and dropped, and idle ones", async () => {
        await onConnections(sock, 600, async (raw, i) => {
          if (i % 3 === 0) await raw.send(PREFACE, settings(), versionCall(1));
          else if (i % 3 === 1) await raw.send(PREFACE);
        }, 200);
        // Idle connections (preface only, or nothing at all) held open while others are served.
        const idle: Raw[] = [];
        for (let k = 0; k < 300; k++) {
          const raw = await Raw.open(sock, false);
          if (k % 2) await raw.send(PREFACE, settings());
          idle.push(raw);
        }
        await assertServing(d, "300 idle connections open");
        await Promise.all(idle.map((raw) => raw.close()));
      });
      // An exception that escaped into the daemon's last-resort handler is a bug too.
      assert.doesNotMatch(d.output(), /Uncaught exception|Unhandled rejection/);
    } finally {
      await d.cleanup();
    }
  },
});
