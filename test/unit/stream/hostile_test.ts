/**
 * The streaming server under hostile input: each attack goes over raw TCP to a server with
 * fake deps (no root), then a good exec session must still work, no error may go unhandled,
 * and every connection and session must be gone.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { nullLogger } from "../../../src/log.ts";
import { ExecFiles } from "../../../src/oci/exec_files.ts";
import { ProcessTemplates } from "../../../src/oci/process_templates.ts";
import type { PortConnection, PortDialer } from "../../../src/stream/port_dialer.ts";
import { ResizeDecoder } from "../../../src/stream/remote_command.ts";
import { StreamServer, type StreamServerDeps } from "../../../src/stream/server.ts";
import type { SpawnedProcess, StreamSpawner } from "../../../src/stream/spawn.ts";
import {
  encodeFrame,
  FLAG_FIN,
  type Frame,
  FrameReader,
  GoAwayStatus,
  RstStatus,
} from "../../../src/stream/spdy_frame.ts";
import { HeaderCodec, type SpdyHeaders } from "../../../src/stream/spdy_headers.ts";
import type { StreamRequest } from "../../../src/stream/types.ts";

// ---- unhandled errors -------------------------------------------------------------------

const unhandled: unknown[] = [];
globalThis.addEventListener("unhandledrejection", (e) => {
  unhandled.push(e.reason);
  e.preventDefault();
});
globalThis.addEventListener("error", (e) => {
  unhandled.push(e.error);
  e.preventDefault();
});

// ---- fakes --------------------------------------------------------------------------------

/** A pid that cannot exist (above any pid_max): killExec's kill of it fails harmlessly. */
const NO_SUCH_PID = "2147483647";
const FLOOD_LIMIT = 64 * 1024 * 1024;

/**
 * A runtime whose `exec` depends on the container id: "flood" prints endlessly (up to 64 MiB,
 * counting what the server read), "bulk" prints 8 MiB then exits, anything else prints
 * "hi\n", echoes stdin and exits 3 when stdin closes.
 */
function fakeSpawner(): StreamSpawner & { floodRead: number; spawned: number } {
  const self = {
    floodRead: 0,
    spawned: 0,
    spawn(_cmd: string, args: string[], options: { stdin: boolean }): SpawnedProcess {
      self.spawned++;
      const pidFile = args[args.indexOf("--pid-file") + 1];
      if (pidFile) Deno.writeTextFileSync(pidFile, NO_SUCH_PID);
      const id = args.at(-1);
      let exit!: (code: number) => void;
      const status = new Promise<number>((r) => exit = r);
      if (id === "bulk") {
        // Exited at once, leaving 8 MiB of output in its (unbounded) pipe.
        const stdout = new ReadableStream<Uint8Array>({
          start(c) {
            for (let i = 0; i < 128; i++) c.enqueue(new Uint8Array(64 * 1024).fill(0x62));
            c.close();
          },
        });
        exit(0);
        return { pid: 1, stdin: null, stdout, stderr: null, status, kill: () => {} };
      }
      if (id === "deaf") {
        // Never reads its stdin (each write waits forever) and never exits by itself.
        const stdin = new WritableStream<Uint8Array>(
          { write: () => new Promise<void>(() => {}) },
          { highWaterMark: 1 },
        );
        const stdout = new ReadableStream<Uint8Array>({ pull: () => status.then(() => {}) });
        return { pid: 1, stdin, stdout, stderr: null, status, kill: () => exit(137) };
      }
      if (id === "flood") {
        const chunk = new Uint8Array(64 * 1024).fill(0x61);
        let sent = 0;
        const limit = FLOOD_LIMIT;
        const stdout = new ReadableStream<Uint8Array>({
          pull(c) {
            if (sent >= limit) {
              c.close();
              exit(0);
              return;
            }
            sent += chunk.length;
            self.floodRead = sent;
            c.enqueue(chunk.slice());
          },
        }, { highWaterMark: 0 });
        return { pid: 1, stdin: null, stdout, stderr: null, status, kill: () => exit(137) };
      }
      let out!: ReadableStreamDefaultController<Uint8Array>;
      const stdout = new ReadableStream<Uint8Array>({ start: (c) => void (out = c) });
      out.enqueue(new TextEncoder().encode("hi\n"));
      const finish = (code: number) => {
        try {
          out.close();
        } catch { /* closed */ }
        exit(code);
      };
      const stdin = new WritableStream<Uint8Array>({
        write: (c) => out.enqueue(c),
        close: () => finish(3),
      });
      if (!options.stdin) finish(3);
      return {
        pid: 1,
        stdin: options.stdin ? stdin : null,
        stdout,
        stderr: null,
        status,
        kill: () => finish(137),
      };
    },
  };
  return self;
}

/** Bytes port 9 of the fake pod sends at most. */
const POD_FLOOD_LIMIT = 64 * 1024 * 1024;

/**
 * A pod where port 7 echoes, port 8 never reads (a write past the first waits until the
 * connection closes; `deafReceived` counts what was handed over), port 9 sends endlessly (up
 * to 64 MiB, `podSent` counts what the server took), and every other port refuses.
 */
function fakeDialer(): PortDialer & {
  connects: number;
  open: number;
  deafReceived: number;
  podSent: number;
} {
  const self = {
    connects: 0,
    open: 0,
    deafReceived: 0,
    podSent: 0,
    connect(port: number): Promise<PortConnection> {
      self.connects++;
      if (port !== 7 && port !== 8 && port !== 9) {
        return Promise.reject(new Error("connection refused"));
      }
      self.open++;
      const queue: Uint8Array[] = [];
      let ended = false;
      let closed = false;
      let wake: (() => void) | undefined;
      const poke = () => {
        const w = wake;
        wake = undefined;
        w?.();
      };
      let release!: () => void;
      const gone = new Promise<void>((r) => release = r);
      const close = () => {
        if (!closed) self.open--;
        closed = ended = true;
        release();
        poke();
      };
      return Promise.resolve({
        write: (d: Uint8Array) => {
          if (port === 8) {
            const first = self.deafReceived === 0;
            self.deafReceived += d.length;
            return first ? Promise.resolve() : gone;
          }
          if (port === 7) queue.push(d);
          poke();
          return Promise.resolve();
        },
        closeWrite: () => {
          if (port === 7) ended = true;
          poke();
        },
        close,
        async *[Symbol.asyncIterator]() {
          if (port === 9) {
            while (!closed && self.podSent < POD_FLOOD_LIMIT) {
              self.podSent += 64 * 1024;
              yield new Uint8Array(64 * 1024).fill(0x70);
            }
            return;
          }
          for (;;) {
            const c = queue.shift();
            if (c) {
              yield c;
              continue;
            }
            if (ended) return;
            await new Promise<void>((r) => wake = r);
          }
        },
      });
    },
    close: () => Promise.resolve(),
  };
  return self;
}

// ---- a raw TCP client ---------------------------------------------------------------------

const BOUND_MS = 15_000;

/** A node:net client that records everything the server sends. */
class Raw {
  readonly socket: net.Socket;
  #chunks: Buffer[] = [];
  #size = 0;
  #closed = false;
  #waiters = new Set<() => void>();
  /** Resolves once the socket is closed (either side). */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.#chunks.push(d);
      this.#size += d.length;
      this.#poke();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.#closed = true;
        this.#poke();
        resolve();
      })
    );
  }

  static connect(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("error", reject);
      s.once("connect", () => {
        s.off("error", reject);
        resolve(new Raw(s));
      });
    });
  }

  #poke(): void {
    for (const w of this.#waiters) w();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  bytes(): Buffer {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0] ?? Buffer.alloc(0);
  }

  write(data: Uint8Array | string): boolean {
    return this.socket.write(data);
  }

  /** The HTTP status of the server's answer, or 0 before it came. */
  status(): number {
    const text = this.bytes().subarray(0, 64).toString("latin1");
    const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
    return m ? Number(m[1]) : 0;
  }

  /** The SPDY frames after the 101 answer (decoded afresh each call). */
  frames(): Frame[] {
    const all = this.bytes();
    const end = all.indexOf("\r\n\r\n");
    if (end < 0) return [];
    return new FrameReader().push(new Uint8Array(all.subarray(end + 4)));
  }

  /** Waits until `ready()` holds; fails when the socket closes first or after a bound. */
  until(ready: () => boolean, what: string, options: { orClose?: boolean } = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ready()) return finish();
        if (this.#closed) {
          if (options.orClose) return finish();
          finish(new Error(`The server closed the connection before ${what}`));
        }
      };
      const timer = setTimeout(
        () => finish(new Error(`Gave up waiting ${BOUND_MS} ms for ${what}`)),
        BOUND_MS,
      );
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Waits for the server to close the connection (without closing ours). */
  serverCloses(what: string): Promise<void> {
    return this.until(() => this.#closed, `the server to close the connection after ${what}`);
  }

  /** Half-closes our side and waits until the server closes too. */
  async hangUp(what: string): Promise<void> {
    this.socket.end();
    await this.serverCloses(what);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Waits for a condition the server reaches on its own, failing with `what` after a bound. */
async function eventually(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`Gave up waiting ${BOUND_MS} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function upgradeHead(path: string, protocol: string): string {
  return `POST ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
    `X-Stream-Protocol-Version: ${protocol}\r\nContent-Length: 0\r\n\r\n`;
}

const execRequest = {
  kind: "exec" as const,
  containerId: "c1",
  cmd: ["cat"],
  tty: false,
  stdin: true,
  stdout: true,
  stderr: false,
};
const pfRequest = { kind: "portforward" as const, sandboxId: "p1", ports: [] };

/** A connection upgraded to SPDY, with the client's own compression context. */
interface Session {
  raw: Raw;
  codec: HeaderCodec;
  send(frame: Parameters<typeof encodeFrame>[0]): boolean;
  open(id: number, headers: SpdyHeaders, flags?: number): Promise<void>;
  close(): void;
}

async function upgrade(server: StreamServer, request: StreamRequest): Promise<Session> {
  const url = new URL(server.url(request));
  const raw = await Raw.connect(server.port);
  const codec = new HeaderCodec();
  raw.write(upgradeHead(url.pathname, protocolOf(request)));
  await raw.until(() => raw.status() !== 0, "the upgrade answer");
  assert.equal(raw.status(), 101);
  return {
    raw,
    codec,
    send: (frame) => raw.write(encodeFrame(frame)),
    open: async (id, headers, flags = 0) => {
      const headerBlock = await codec.compress(headers);
      raw.write(
        encodeFrame({
          type: "synStream",
          streamId: id,
          associatedId: 0,
          priority: 0,
          flags,
          headerBlock,
        }),
      );
    },
    close: () => {
      codec.close();
      raw.destroy();
    },
  };
}

function protocolOf(request: StreamRequest): string {
  return request.kind === "portforward" ? "portforward.k8s.io" : "v4.channel.k8s.io";
}

function dataOf(frames: Frame[], streamId: number): string {
  return frames.filter((f) => f.type === "data" && f.streamId === streamId)
    .map((f) => new TextDecoder().decode((f as { data: Uint8Array }).data)).join("");
}

function count(frames: Frame[], pred: (f: Frame) => boolean): number {
  return frames.filter(pred).length;
}

const isGoAway = (status: number) => (f: Frame) => f.type === "goAway" && f.status === status;

// ---- the server ---------------------------------------------------------------------------

interface Env {
  server: StreamServer;
  spawner: ReturnType<typeof fakeSpawner>;
  dialer: ReturnType<typeof fakeDialer>;
}

async function withServer(
  fn: (env: Env) => Promise<void>,
  extra: Pick<StreamServerDeps, "idleTimeoutMs" | "maxConnections"> = {},
): Promise<void> {
  const bundle = await Deno.makeTempDir();
  await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify({ process: { cwd: "/" } }));
  const execFiles = new ExecFiles(`${bundle}/exec`);
  const spawner = fakeSpawner();
  const dialer = fakeDialer();
  const server = await StreamServer.start({
    log: nullLogger,
    runtimePath: "/fake/runc",
    runtimeRoot: "/fake/root",
    execFiles,
    processes: new ProcessTemplates(),
    container: (id) => ({ id, bundle, logPath: `${bundle}/log`, running: true }),
    sandbox: (id) => ({ id, ready: true }),
    spawner,
    dialer: () => dialer,
    tty: { run: () => Promise.resolve({ kind: "success" }) },
    headersTimeoutMs: 1_000,
    closeGraceMs: 500,
    ...extra,
  });
  try {
    await fn({ server, spawner, dialer });
    await healthy(server);
  } finally {
    await server.close();
    await Deno.remove(bundle, { recursive: true });
  }
  assert.equal(server.activeSessions, 0);
  assert.equal(server.activeConnections, 0);
}

/** A full exec session works: output, exit status, clean end. */
async function goodExec(server: StreamServer): Promise<void> {
  const s = await upgrade(server, execRequest);
  try {
    await s.open(1, { streamtype: ["error"] });
    await s.open(3, { streamtype: ["stdin"] });
    await s.open(5, { streamtype: ["stdout"] });
    s.send({ type: "data", streamId: 3, flags: 0, data: new TextEncoder().encode("echo") });
    s.send({ type: "data", streamId: 3, flags: FLAG_FIN, data: new Uint8Array(0) });
    await s.raw.serverCloses("a good exec session");
    const frames = s.raw.frames();
    assert.equal(dataOf(frames, 5), "hi\necho");
    assert.equal(JSON.parse(dataOf(frames, 1)).details.causes[0].message, "3");
    assert.equal(frames.at(-1)?.type, "goAway");
  } finally {
    s.close();
  }
}

/** After an attack: a good session works, nothing went unhandled, nothing is left open. */
async function healthy(server: StreamServer): Promise<void> {
  await goodExec(server);
  await eventually(
    () => server.activeSessions === 0 && server.activeConnections === 0,
    "every session and connection to end",
  );
  assert.deepEqual(unhandled, [], "no error went unhandled");
}

/** Runs one attack as a step, then checks the server is still healthy. */
function attack(
  t: Deno.TestContext,
  server: StreamServer,
  name: string,
  fn: () => Promise<void>,
): Promise<boolean> {
  return t.step(name, async () => {
    await fn();
    await healthy(server);
  });
}

// ---- HTTP-level attacks -------------------------------------------------------------------

Deno.test("StreamServer survives hostile HTTP clients", async (t) => {
  await withServer(async ({ server }) => {
    await attack(t, server, "plain garbage is answered 400 and closed", async () => {
      const raw = await Raw.connect(server.port);
      raw.write("\x16\x03\x01\x00garbage\r\n\r\n");
      await raw.serverCloses("garbage");
      assert.equal(raw.status(), 400);
    });
    await attack(t, server, "request targets that are not URLs are answered 404", async () => {
      for (const target of ["//", "//a:99999/exec/x", "http://", "*", "//["]) {
        for (const upgrade of [false, true]) {
          const raw = await Raw.connect(server.port);
          raw.write(
            upgrade
              ? upgradeHead(target, "v4.channel.k8s.io")
              : `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`,
          );
          await raw.serverCloses(`a request for ${target}`);
          assert.equal(raw.status(), 404, `${upgrade ? "upgrade" : "request"} for ${target}`);
        }
      }
    });
    await attack(t, server, "100 KiB of headers is refused and closed", async () => {
      const raw = await Raw.connect(server.port);
      raw.write(
        `POST /exec/abc HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100 * 1024)}\r\n\r\n`,
      );
      await raw.serverCloses("100 KiB of headers");
      // The answer may be lost to a reset when the server closes with unread bytes.
      assert.ok([0, 431].includes(raw.status()), `status ${raw.status()}`);
    });
    await attack(t, server, "a slowloris client is dropped after the headers timeout", async () => {
      const raw = await Raw.connect(server.port);
      raw.write("POST /exec/abc HTTP/1.1\r\nHost: x\r\n");
      let n = 0;
      const trickle = setInterval(() => raw.isClosed || raw.write(`X-${n++}: y\r\n`), 100);
      try {
        await raw.serverCloses("headers that never end");
      } finally {
        clearInterval(trickle);
      }
    });
    await attack(t, server, "a client that connects and sends nothing is dropped", async () => {
      const raw = await Raw.connect(server.port);
      await raw.serverCloses("no request at all");
    });
    await attack(
      t,
      server,
      "a valid exec upgrade then closing at once ends the session",
      async () => {
        const raw = await Raw.connect(server.port);
        raw.write(upgradeHead(new URL(server.url(execRequest)).pathname, "v4.channel.k8s.io"));
        raw.destroy();
        await raw.closed;
      },
    );
    await attack(t, server, "a valid port-forward upgrade then closing at once", async () => {
      const raw = await Raw.connect(server.port);
      raw.write(upgradeHead(new URL(server.url(pfRequest)).pathname, "portforward.k8s.io"));
      raw.destroy();
      await raw.closed;
    });
    await attack(
      t,
      server,
      "a refused upgrade is closed even if the client keeps it open",
      async () => {
        const raw = await Raw.connect(server.port);
        raw.write(upgradeHead("/exec/nosuchtoken", "v4.channel.k8s.io"));
        await raw.serverCloses("a 404 answer");
        assert.equal(raw.status(), 404);
      },
    );
  });
});

// ---- SPDY-level attacks -------------------------------------------------------------------

Deno.test("StreamServer survives malformed SPDY frames", async (t) => {
  await withServer(async ({ server }) => {
    await attack(t, server, "64 KiB of random bytes", async () => {
      const s = await upgrade(server, execRequest);
      const rnd = new Uint8Array(64 * 1024);
      const prng = mulberry32(1);
      for (let i = 0; i < rnd.length; i++) rnd[i] = prng() * 256;
      s.raw.write(rnd);
      await s.raw.hangUp("random bytes");
      s.close();
    });
    await attack(t, server, "header names of Object.prototype and 200,000 values", async () => {
      const s = await upgrade(server, execRequest);
      // JSON.parse makes "__proto__" an own property, so it is sent as a header.
      const odd = JSON.parse('{"__proto__": ["x"], "constructor": ["y"], "toString": ["z"]}');
      await s.open(1, { ...odd, many: Array(200_000).fill(""), streamtype: ["error"] });
      await s.raw.until(
        () => s.raw.frames().some((f) => f.type === "synReply" && f.streamId === 1),
        "the stream to be accepted",
      );
      await s.raw.hangUp("odd header names");
      s.close();
    });
    await attack(t, server, "a frame announcing 16 MiB is refused with GOAWAY", async () => {
      const s = await upgrade(server, execRequest);
      s.raw.write(new Uint8Array([0x80, 0x03, 0x00, 0x01, 0x00, 0xff, 0xff, 0xff, 1, 2, 3]));
      await s.raw.serverCloses("a 16 MiB frame header");
      assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.protocolError)), 1);
      s.close();
    });
    await attack(t, server, "a truncated frame followed by EOF", async () => {
      const s = await upgrade(server, execRequest);
      s.raw.write(encodeFrame({ type: "ping", id: 1 }).subarray(0, 6));
      await s.raw.hangUp("half a frame");
      s.close();
    });
    await attack(t, server, "control frames too short for their type", async () => {
      for (const type of [1, 2, 3, 4, 6, 7, 8, 9]) {
        const s = await upgrade(server, execRequest);
        s.raw.write(new Uint8Array([0x80, 0x03, 0x00, type, 0x00, 0x00, 0x00, 0x02, 0, 0]));
        await s.raw.serverCloses(`a short control frame of type ${type}`);
        assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.protocolError)), 1);
        s.close();
      }
    });
    await attack(t, server, "unknown control types and versions are ignored", async () => {
      const s = await upgrade(server, execRequest);
      s.raw.write(new Uint8Array([0x80, 0x03, 0x7f, 0xff, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4]));
      s.raw.write(new Uint8Array([0x80, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 9]));
      s.send({ type: "ping", id: 1 });
      await s.raw.until(() => s.raw.frames().some((f) => f.type === "ping"), "the ping echo");
      await s.raw.hangUp("unknown control frames");
      s.close();
    });
    await attack(t, server, "SYN_STREAM with a corrupt zlib header block", async () => {
      const s = await upgrade(server, execRequest);
      s.send({
        type: "synStream",
        streamId: 1,
        associatedId: 0,
        priority: 0,
        flags: 0,
        headerBlock: new Uint8Array([0x78, 0xbb, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]),
      });
      await s.raw.serverCloses("a corrupt header block");
      assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.protocolError)), 1);
      s.close();
    });
    await attack(t, server, "SYN_STREAM whose headers inflate to 16 MiB (zlib bomb)", async () => {
      const s = await upgrade(server, execRequest);
      await s.open(1, { streamtype: ["error"], bomb: ["a".repeat(16 * 1024 * 1024)] });
      await s.raw.serverCloses("a zlib bomb");
      assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.protocolError)), 1);
      s.close();
    });
    for (const [name, first, second] of [["a duplicate", 1, 1], ["a lower", 5, 3]] as const) {
      await attack(t, server, `SYN_STREAM with ${name} stream id`, async () => {
        const s = await upgrade(server, execRequest);
        await s.open(first, { streamtype: ["error"] });
        await s.open(second, { streamtype: ["stdin"] });
        await s.raw.serverCloses(`${name} stream id`);
        assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.protocolError)), 1);
        s.close();
      });
    }
    for (const id of [0, 2]) {
      await attack(t, server, `SYN_STREAM with stream id ${id}`, async () => {
        const s = await upgrade(server, execRequest);
        await s.open(id, { streamtype: ["error"] });
        await s.raw.serverCloses(`stream id ${id}`);
        assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.protocolError)), 1);
        s.close();
      });
    }
    await attack(
      t,
      server,
      "streams with a missing or unknown streamType are refused",
      async () => {
        const s = await upgrade(server, execRequest);
        await s.open(1, {});
        await s.open(3, { streamtype: ["bogus"] });
        await s.open(5, { streamtype: ["error"] });
        await s.open(7, { streamtype: ["error"] });
        await s.raw.until(
          () => count(s.raw.frames(), (f) => f.type === "rstStream") === 3,
          "three RST_STREAMs",
        );
        const rst = s.raw.frames().filter((f) => f.type === "rstStream");
        assert.deepEqual(rst.map((f) => f.type === "rstStream" && [f.streamId, f.status]), [
          [1, RstStatus.refusedStream],
          [3, RstStatus.refusedStream],
          [7, RstStatus.refusedStream],
        ]);
        await s.raw.hangUp("refused streams");
        s.close();
      },
    );
    await attack(
      t,
      server,
      "DATA for unknown and closed streams, RST_STREAM for unknown",
      async () => {
        const s = await upgrade(server, execRequest);
        await s.open(1, { streamtype: ["bogus"] });
        s.send({ type: "data", streamId: 99, flags: 0, data: new Uint8Array([1]) });
        s.send({ type: "data", streamId: 1, flags: FLAG_FIN, data: new Uint8Array([1]) });
        s.send({ type: "rstStream", streamId: 77, status: RstStatus.cancel });
        s.send({ type: "ping", id: 3 });
        await s.raw.until(() => s.raw.frames().some((f) => f.type === "ping"), "the ping echo");
        const rst = s.raw.frames().filter((f) => f.type === "rstStream");
        assert.deepEqual(rst.map((f) => f.type === "rstStream" && [f.streamId, f.status]), [
          [1, RstStatus.refusedStream],
          [99, RstStatus.invalidStream],
          [1, RstStatus.invalidStream],
        ]);
        await s.raw.hangUp("DATA for unknown streams");
        s.close();
      },
    );
    await attack(t, server, "10,000 PINGs in one burst are all answered", async () => {
      const s = await upgrade(server, execRequest);
      const burst = Buffer.concat(
        Array.from({ length: 10_000 }, (_, i) => encodeFrame({ type: "ping", id: 2 * i + 1 })),
      );
      s.raw.write(burst);
      await s.raw.until(
        () => count(s.raw.frames(), (f) => f.type === "ping") === 10_000,
        "10,000 ping echoes",
      );
      await s.raw.hangUp("a ping burst");
      s.close();
    });
    await attack(t, server, "frames after the client's GOAWAY", async () => {
      const s = await upgrade(server, execRequest);
      s.send({ type: "goAway", lastGoodStreamId: 0, status: GoAwayStatus.ok });
      await s.open(1, { streamtype: ["error"] });
      s.send({ type: "ping", id: 5 });
      await s.raw.until(() => s.raw.frames().some((f) => f.type === "ping"), "the ping echo");
      await s.raw.hangUp("frames after GOAWAY");
      s.close();
    });
    await attack(
      t,
      server,
      "WINDOW_UPDATE with delta 0 and SETTINGS with 10,000 entries",
      async () => {
        const s = await upgrade(server, execRequest);
        s.send({ type: "windowUpdate", streamId: 0, delta: 0 });
        s.send({ type: "windowUpdate", streamId: 12345, delta: 0 });
        s.send({
          type: "settings",
          flags: 0,
          entries: Array.from({ length: 10_000 }, (_, i) => ({ id: i, flags: 0, value: i })),
        });
        // A SETTINGS frame whose count claims more entries than it carries.
        s.raw.write(
          new Uint8Array([0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff]),
        );
        await s.raw.serverCloses("a SETTINGS frame with a lying count");
        assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.protocolError)), 1);
        s.close();
      },
    );
  });
});

// ---- resource attacks ---------------------------------------------------------------------

Deno.test("StreamServer bounds what one client can make it hold", async (t) => {
  await withServer(async ({ server, spawner, dialer }) => {
    await attack(t, server, "1000 SYN_STREAMs on one connection are capped", async () => {
      const s = await upgrade(server, pfRequest);
      for (let i = 0; i < 1000; i++) {
        await s.open(2 * i + 1, { streamtype: ["error"], port: ["7"], requestid: [`r${i}`] });
      }
      await s.raw.until(
        () =>
          count(s.raw.frames(), (f) => f.type === "synReply" || f.type === "rstStream") === 1000,
        "an answer to each of 1000 streams",
      );
      const frames = s.raw.frames();
      const refused = count(frames, (f) => f.type === "rstStream");
      assert.ok(refused >= 800 && refused < 1000, `${refused} of 1000 streams refused`);
      await s.raw.hangUp("1000 streams");
      s.close();
    });
    await attack(
      t,
      server,
      "an exec client that never reads does not make output pile up",
      async () => {
        const s = await upgrade(server, { ...execRequest, containerId: "flood", stdin: false });
        s.raw.socket.pause();
        await s.open(1, { streamtype: ["error"] });
        await s.open(3, { streamtype: ["stdout"] });
        // Wait until the server stops reading the process (its output stalls).
        let last = -1;
        let still = 0;
        await eventually(() => {
          if (spawner.floodRead === last && last > 0) still++;
          else still = 0;
          last = spawner.floodRead;
          return still >= 20 || last >= FLOOD_LIMIT;
        }, "the process output to stall or reach 64 MiB");
        assert.ok(
          spawner.floodRead < 32 * 1024 * 1024,
          `the server read ${spawner.floodRead} bytes for a client that reads nothing`,
        );
        s.close();
      },
    );
    await attack(t, server, "a finished session whose client never reads is dropped", async () => {
      const s = await upgrade(server, { ...execRequest, containerId: "bulk", stdin: false });
      await s.open(1, { streamtype: ["error"] });
      await s.open(3, { streamtype: ["stdout"] });
      s.raw.socket.pause();
      // The client is paused, so it would not see the server's FIN: watch the server instead.
      await eventually(
        () => server.activeConnections === 0 && server.activeSessions === 0,
        "the server to drop a client that never reads",
      );
      s.close();
    });
    await attack(
      t,
      server,
      "a PING flood from a client that never reads stops being read",
      async () => {
        const s = await upgrade(server, execRequest);
        s.raw.socket.pause();
        const burst = Buffer.concat(
          Array.from({ length: 10_000 }, (_, i) => encodeFrame({ type: "ping", id: 2 * i + 1 })),
        );
        let sent = 0;
        for (;;) {
          assert.ok(sent < 64 * 1024 * 1024, "the server kept reading 64 MiB of pings");
          if (!s.raw.write(burst)) {
            const drained = await new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), 500);
              s.raw.socket.once("drain", () => {
                clearTimeout(timer);
                resolve(true);
              });
            });
            if (!drained) break;
          }
          sent += burst.length;
        }
        s.close();
      },
    );
    await attack(t, server, "stdin that the process never reads stops being read", async () => {
      const s = await upgrade(server, { ...execRequest, containerId: "deaf" });
      await s.open(1, { streamtype: ["error"] });
      await s.open(3, { streamtype: ["stdin"] });
      await s.open(5, { streamtype: ["stdout"] });
      const frame = encodeFrame({
        type: "data",
        streamId: 3,
        flags: 0,
        data: new Uint8Array(32 * 1024),
      });
      let sent = 0;
      for (;;) {
        assert.ok(sent < 64 * 1024 * 1024, "the server kept reading 64 MiB of unread stdin");
        if (!s.raw.write(frame)) {
          const drained = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), 500);
            s.raw.socket.once("drain", () => {
              clearTimeout(timer);
              resolve(true);
            });
          });
          if (!drained) break;
        }
        sent += frame.length;
      }
      s.close();
    });
    await attack(t, server, "port-forward refuses bad ports", async () => {
      const s = await upgrade(server, pfRequest);
      const bad = ["abc", "0", "65536", "-1", "", "7.5", "0x7", " 7"];
      for (const [i, port] of bad.entries()) {
        await s.open(2 * i + 1, { streamtype: ["data"], port: [port], requestid: [`b${i}`] });
      }
      await s.open(101, { streamtype: ["data"], requestid: ["noport"] });
      await s.raw.until(
        () => count(s.raw.frames(), (f) => f.type === "rstStream") === bad.length + 1,
        "a refusal of each bad port",
      );
      assert.equal(count(s.raw.frames(), (f) => f.type === "synReply"), 0);
      await s.raw.hangUp("bad ports");
      s.close();
    });
    await attack(t, server, "port-forward pairs streams without a requestID", async () => {
      const before = dialer.connects;
      const s = await upgrade(server, pfRequest);
      await s.open(1, { streamtype: ["error"], port: ["7"] });
      await s.open(3, { streamtype: ["data"], port: ["7"] });
      s.send({ type: "data", streamId: 3, flags: 0, data: new TextEncoder().encode("ping") });
      await s.raw.until(() => dataOf(s.raw.frames(), 3) === "ping", "the echo on stream 3");
      assert.equal(dialer.connects, before + 1);
      await s.raw.hangUp("a forwarded connection");
      s.close();
    });
    await attack(
      t,
      server,
      "port-forward half pairs that the client resets are forgotten",
      async () => {
        const s = await upgrade(server, pfRequest);
        for (let i = 0; i < 300; i++) {
          await s.open(2 * i + 1, { streamtype: ["error"], port: ["7"], requestid: [`h${i}`] });
          s.send({ type: "rstStream", streamId: 2 * i + 1, status: RstStatus.cancel });
        }
        s.send({ type: "ping", id: 1 });
        await s.raw.until(() => s.raw.frames().some((f) => f.type === "ping"), "the ping echo");
        assert.equal(count(s.raw.frames(), (f) => f.type === "rstStream"), 0, "none refused");
        await s.raw.hangUp("reset half pairs");
        s.close();
      },
    );
  });
});

// ---- port-forward flow, idle sessions, connection limit -----------------------------------

/**
 * Writes `frame` over and over until the server stops reading (no drain within 500 ms),
 * failing if it takes 64 MiB.
 */
async function sendUntilStalled(raw: Raw, frame: Uint8Array, what: string): Promise<void> {
  let sent = 0;
  for (;;) {
    assert.ok(sent < 64 * 1024 * 1024, `the server kept reading 64 MiB of ${what}`);
    if (!raw.write(frame)) {
      const drained = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 500);
        raw.socket.once("drain", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!drained) return;
    }
    sent += frame.length;
  }
}

Deno.test("StreamServer port-forward holds a bounded amount for a slow pod or client", async (t) => {
  await withServer(async ({ server, dialer }) => {
    await attack(t, server, "bytes for a pod that never reads stop being read", async () => {
      const s = await upgrade(server, pfRequest);
      await s.open(1, { streamtype: ["error"], port: ["8"], requestid: ["d"] });
      await s.open(3, { streamtype: ["data"], port: ["8"], requestid: ["d"] });
      await s.raw.until(
        () => count(s.raw.frames(), (f) => f.type === "synReply") === 2,
        "both streams accepted",
      );
      const frame = encodeFrame({
        type: "data",
        streamId: 3,
        flags: 0,
        data: new Uint8Array(32 * 1024),
      });
      await sendUntilStalled(s.raw, frame, "data for a pod that never reads");
      assert.ok(dialer.deafReceived > 0, "the pod connection got the first bytes");
      assert.ok(
        dialer.deafReceived <= 64 * 1024,
        `${dialer.deafReceived} bytes were handed to a pod that waits on its first write`,
      );
      s.close();
      await eventually(() => dialer.open === 0, "the pod connection to be closed");
    });
    await attack(t, server, "a pod that floods a client that never reads is not read", async () => {
      const s = await upgrade(server, pfRequest);
      s.raw.socket.pause();
      await s.open(1, { streamtype: ["error"], port: ["9"], requestid: ["f"] });
      await s.open(3, { streamtype: ["data"], port: ["9"], requestid: ["f"] });
      let last = -1;
      let still = 0;
      await eventually(() => {
        if (dialer.podSent === last && last > 0) still++;
        else still = 0;
        last = dialer.podSent;
        return still >= 20 || last >= POD_FLOOD_LIMIT;
      }, "the pod's output to stall or reach 64 MiB");
      assert.ok(
        dialer.podSent < 32 * 1024 * 1024,
        `the server read ${dialer.podSent} bytes of the pod for a client that reads nothing`,
      );
      s.close();
      await eventually(() => dialer.open === 0, "the pod connection to be closed");
    });
  });
});

Deno.test("StreamServer closes a session idle past idleTimeoutMs", async (t) => {
  await withServer(async ({ server, dialer }) => {
    await t.step("an idle port-forward is closed with its pod connection", async () => {
      const s = await upgrade(server, pfRequest);
      await s.open(1, { streamtype: ["error"], port: ["7"], requestid: ["i"] });
      await s.open(3, { streamtype: ["data"], port: ["7"], requestid: ["i"] });
      s.send({ type: "data", streamId: 3, flags: 0, data: new TextEncoder().encode("ping") });
      await s.raw.until(() => dataOf(s.raw.frames(), 3) === "ping", "the echo on stream 3");
      assert.equal(dialer.open, 1);
      await s.raw.serverCloses("an idle time");
      assert.equal(count(s.raw.frames(), isGoAway(GoAwayStatus.ok)), 1, "one GOAWAY (ok)");
      await eventually(() => dialer.open === 0, "the pod connection to be closed");
      s.close();
    });
    await t.step("an idle exec is closed and its process killed", async () => {
      const s = await upgrade(server, { ...execRequest, containerId: "deaf" });
      await s.open(1, { streamtype: ["error"] });
      await s.open(3, { streamtype: ["stdin"] });
      await s.open(5, { streamtype: ["stdout"] });
      await s.raw.serverCloses("an idle time");
      await eventually(() => server.activeSessions === 0, "the exec session to end");
      s.close();
    });
    await t.step("a session with traffic stays open", async () => {
      const s = await upgrade(server, pfRequest);
      // Pings every 50 ms for three idle times: far more often than the idle time.
      for (let i = 0; i < 90; i++) {
        s.send({ type: "ping", id: 2 * i + 1 });
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(!s.raw.isClosed, "the server closed a connection with traffic");
      assert.equal(count(s.raw.frames(), (f) => f.type === "ping"), 90, "every ping echoed");
      await s.raw.serverCloses("pings stopped");
      s.close();
    });
  }, { idleTimeoutMs: 1_500 });
});

Deno.test("StreamServer refuses connections past maxConnections with 503", async () => {
  await withServer(async ({ server }) => {
    const held = [await upgrade(server, pfRequest), await upgrade(server, execRequest)];
    try {
      const extra = await Raw.connect(server.port);
      extra.write(upgradeHead("/exec/abc", "v4.channel.k8s.io"));
      await extra.serverCloses("a connection over the limit");
      assert.equal(extra.status(), 503);
      assert.match(extra.bytes().toString(), /holds 2 streaming connections/);
      extra.destroy();
      // One that sends nothing is answered too.
      const silent = await Raw.connect(server.port);
      await silent.serverCloses("a silent connection over the limit");
      assert.equal(silent.status(), 503);
      silent.destroy();
      assert.equal(server.activeConnections, 2);
    } finally {
      for (const s of held) s.close();
    }
    await eventually(() => server.activeConnections === 0, "the held connections to close");
    // withServer then checks that a new exec session works again.
  }, { maxConnections: 2 });
});

// ---- fuzzing ------------------------------------------------------------------------------

/** A small seeded PRNG (mulberry32): the same mutations on every run. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The client's frames of a good exec session, as a client would send them. */
async function recordedSession(): Promise<Uint8Array> {
  const codec = new HeaderCodec();
  try {
    const frames: Uint8Array[] = [];
    for (const [id, type] of [[1, "error"], [3, "stdin"], [5, "stdout"]] as const) {
      frames.push(encodeFrame({
        type: "synStream",
        streamId: id,
        associatedId: 0,
        priority: 0,
        flags: 0,
        headerBlock: await codec.compress({ streamtype: [type] }),
      }));
    }
    frames.push(encodeFrame({ type: "ping", id: 7 }));
    frames.push(encodeFrame({ type: "windowUpdate", streamId: 3, delta: 65536 }));
    frames.push(
      encodeFrame({ type: "data", streamId: 3, flags: 0, data: new TextEncoder().encode("echo") }),
    );
    frames.push(
      encodeFrame({ type: "data", streamId: 3, flags: FLAG_FIN, data: new Uint8Array(0) }),
    );
    return new Uint8Array(Buffer.concat(frames));
  } finally {
    codec.close();
  }
}

function mutate(input: Uint8Array, rnd: () => number): Uint8Array {
  const bytes = [...input];
  const at = () => Math.floor(rnd() * (bytes.length + 1));
  const edits = 1 + Math.floor(rnd() * 4);
  for (let e = 0; e < edits; e++) {
    switch (Math.floor(rnd() * 7)) {
      case 0: // flip bits
        for (let i = 0; i < 1 + rnd() * 8; i++) {
          const p = Math.min(at(), bytes.length - 1);
          bytes[p] = (bytes[p] ?? 0) ^ (1 << Math.floor(rnd() * 8));
        }
        break;
      case 1: // random bytes over a range
        for (let i = 0, p = at(); i < 1 + rnd() * 16 && p + i < bytes.length; i++) {
          bytes[p + i] = Math.floor(rnd() * 256);
        }
        break;
      case 2: // insert random bytes
        bytes.splice(at(), 0, ...Array.from({ length: 1 + rnd() * 32 }, () => rnd() * 256 | 0));
        break;
      case 3: // delete a range
        bytes.splice(at(), 1 + Math.floor(rnd() * 32));
        break;
      case 4: // truncate
        bytes.length = at();
        break;
      case 5: { // duplicate a range
        const p = at();
        bytes.splice(at(), 0, ...bytes.slice(p, p + 1 + Math.floor(rnd() * 64)));
        break;
      }
      case 6: { // an extreme value in a 32-bit word
        const p = Math.min(at(), Math.max(0, bytes.length - 4));
        const v = [0xffffffff, 0x80000000, 0x00ffffff, 0, 1][Math.floor(rnd() * 5)]!;
        for (let i = 0; i < 4 && p + i < bytes.length; i++) {
          bytes[p + i] = (v >>> (24 - 8 * i)) & 0xff;
        }
        break;
      }
    }
  }
  return new Uint8Array(bytes);
}

Deno.test("StreamServer survives 300 mutations of a recorded exec session", async () => {
  const session = await recordedSession();
  const rnd = mulberry32(0x0c1d);
  await withServer(async ({ server, spawner }) => {
    const outcomes = { upgraded: 0, spawned: 0, answered: 0, goAway: 0 };
    for (let i = 0; i < 300; i++) {
      const spawnedBefore = spawner.spawned;
      const head = new TextEncoder().encode(
        upgradeHead(new URL(server.url(execRequest)).pathname, "v4.channel.k8s.io"),
      );
      // Mostly the SPDY bytes; one case in ten the HTTP request as well.
      const bytes = rnd() < 0.1
        ? mutate(new Uint8Array([...head, ...session]), rnd)
        : new Uint8Array([...head, ...mutate(session, rnd)]);
      const raw = await Raw.connect(server.port);
      raw.write(bytes);
      try {
        await raw.hangUp(`mutation ${i}`);
      } finally {
        raw.destroy();
      }
      if (raw.status() === 101) outcomes.upgraded++;
      if (spawner.spawned > spawnedBefore) outcomes.spawned++;
      const frames = raw.status() === 101 ? raw.frames() : [];
      if (frames.some((f) => f.type === "synReply")) outcomes.answered++;
      if (frames.some((f) => f.type === "goAway" && f.status !== GoAwayStatus.ok)) {
        outcomes.goAway++;
      }
      assert.deepEqual(unhandled, [], `no error went unhandled (mutation ${i})`);
    }
    await eventually(
      () => server.activeSessions === 0 && server.activeConnections === 0,
      "every fuzzed session to end",
    );
    // The mutations are seeded: these fail only if the fuzzing stops reaching deep paths.
    const reached = JSON.stringify(outcomes);
    assert.ok(outcomes.upgraded >= 200, `most requests upgraded: ${reached}`);
    assert.ok(outcomes.answered >= 30, `many sessions opened streams: ${reached}`);
    assert.ok(outcomes.spawned >= 5, `some sessions ran the process: ${reached}`);
    assert.ok(outcomes.goAway >= 30, `many broke the protocol: ${reached}`);
  });
});

Deno.test("ResizeDecoder keeps a bounded remainder and finds a size after garbage", () => {
  const d = new ResizeDecoder();
  const enc = new TextEncoder();
  for (let i = 0; i < 1024; i++) assert.deepEqual(d.push(enc.encode("{" + "a".repeat(1024))), []);
  assert.deepEqual(d.push(enc.encode('{"Width":80,"Height":24}')), [{ width: 80, height: 24 }]);
  assert.deepEqual(d.push(enc.encode('}}{{"Width":1,"Height":2}')), [{ width: 1, height: 2 }]);
});
