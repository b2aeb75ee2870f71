import assert from "node:assert/strict";
import { nullLogger } from "../../../src/log.ts";
import { ExecFiles } from "../../../src/oci/exec_files.ts";
import { ProcessTemplates } from "../../../src/oci/process_templates.ts";
import { StreamServer } from "../../../src/stream/server.ts";
import type { SpawnedProcess, StreamSpawner } from "../../../src/stream/spawn.ts";
import { encodeFrame, FLAG_FIN, type Frame, FrameReader } from "../../../src/stream/spdy_frame.ts";
import { HeaderCodec, type SpdyHeaders } from "../../../src/stream/spdy_headers.ts";

/** A spawner whose process prints `out`, echoes stdin, and exits with `code`. */
function fakeSpawner(out: string, code: number): StreamSpawner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    spawn(_cmd, args, options): SpawnedProcess {
      calls.push(args);
      let stdoutCtl!: ReadableStreamDefaultController<Uint8Array>;
      const stdout = new ReadableStream<Uint8Array>({ start: (c) => void (stdoutCtl = c) });
      let exit!: (code: number) => void;
      const status = new Promise<number>((r) => exit = r);
      stdoutCtl.enqueue(new TextEncoder().encode(out));
      const stdin = new WritableStream<Uint8Array>({
        write: (chunk) => stdoutCtl.enqueue(chunk),
        close: () => {
          stdoutCtl.close();
          exit(code);
        },
      });
      if (!options.stdin) {
        stdoutCtl.close();
        exit(code);
      }
      return {
        pid: 1,
        stdin: options.stdin ? stdin : null,
        stdout,
        stderr: null,
        status,
        kill: () => exit(137),
      };
    },
  };
}

/** A minimal SPDY client made of ocid's own framing, for driving the server without Go. */
class Client {
  #conn: Deno.TcpConn;
  #reader = new FrameReader();
  #codec = new HeaderCodec();
  #frames: Frame[] = [];
  #buffered = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async upgrade(url: string, protocol: string): Promise<{ status: number; client: Client }> {
    const u = new URL(url);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    await conn.write(new TextEncoder().encode(
      `POST ${u.pathname} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
        `X-Stream-Protocol-Version: ${protocol}\r\nContent-Length: 0\r\n\r\n`,
    ));
    const client = new Client(conn);
    const head = await client.#readHead();
    return { status: Number(head.split(" ")[1]), client };
  }

  async #readHead(): Promise<string> {
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await this.#conn.read(buf);
      if (n === null) return text;
      const all = new Uint8Array([...this.#buffered, ...buf.subarray(0, n)]);
      const s = new TextDecoder().decode(all);
      const end = s.indexOf("\r\n\r\n");
      if (end >= 0) {
        const headBytes = new TextEncoder().encode(s.slice(0, end + 4)).length;
        this.#frames.push(...this.#reader.push(all.subarray(headBytes)));
        text = s.slice(0, end);
        return text;
      }
      this.#buffered = all;
    }
  }

  async open(id: number, headers: SpdyHeaders, fin = false): Promise<void> {
    const headerBlock = await this.#codec.compress(headers);
    await this.#conn.write(encodeFrame({
      type: "synStream",
      streamId: id,
      associatedId: 0,
      priority: 0,
      flags: fin ? FLAG_FIN : 0,
      headerBlock,
    }));
  }

  async send(frame: Parameters<typeof encodeFrame>[0]): Promise<void> {
    await this.#conn.write(encodeFrame(frame));
  }

  /** Reads frames until the server closes; decodes SYN_REPLY headers. */
  async readAll(): Promise<Frame[]> {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await this.#conn.read(buf).catch(() => null);
      if (n === null) break;
      this.#frames.push(...this.#reader.push(buf.slice(0, n)));
    }
    for (const f of this.#frames) {
      if (f.type === "synReply") await this.#codec.decompress(f.headerBlock);
    }
    return this.#frames;
  }

  close(): void {
    this.#codec.close();
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

function dataOf(frames: Frame[], streamId: number): string {
  return frames.filter((f) => f.type === "data" && f.streamId === streamId)
    .map((f) => new TextDecoder().decode((f as { data: Uint8Array }).data)).join("");
}

async function withServer(
  spawner: StreamSpawner,
  fn: (server: StreamServer, clock: { now: number }) => Promise<void>,
): Promise<void> {
  const clock = { now: 0 };
  const bundle = await Deno.makeTempDir();
  await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify({ process: { cwd: "/" } }));
  const execFiles = new ExecFiles(`${bundle}/exec`);
  const server = await StreamServer.start({
    log: nullLogger,
    runtimePath: "/fake/runc",
    runtimeRoot: "/fake/root",
    execFiles,
    processes: new ProcessTemplates(),
    container: (id) => ({ id, bundle, logPath: `${bundle}/log`, running: true }),
    sandbox: (id) => ({ id, ready: true }),
    spawner,
    tokens: { now: () => clock.now },
  });
  let left: Deno.DirEntry[];
  try {
    await fn(server, clock);
  } finally {
    await server.close();
    await execFiles.settled();
    left = await Array.fromAsync(Deno.readDir(execFiles.dir)).catch(() => []);
    await Deno.remove(bundle, { recursive: true });
  }
  assert.deepEqual(left.map((e) => e.name), [], "no exec file is left");
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

Deno.test("StreamServer runs an exec session over SPDY/3.1 and reports the exit code", async () => {
  const spawner = fakeSpawner("hi\n", 3);
  await withServer(spawner, async (server) => {
    const url = server.url(execRequest);
    const { status, client } = await Client.upgrade(url, "v4.channel.k8s.io");
    try {
      assert.equal(status, 101);
      await client.open(1, { streamtype: ["error"] });
      await client.open(3, { streamtype: ["stdin"] });
      await client.open(5, { streamtype: ["stdout"] });
      await client.send({ type: "ping", id: 7 });
      await client.send({
        type: "data",
        streamId: 3,
        flags: 0,
        data: new TextEncoder().encode("echo"),
      });
      await client.send({ type: "data", streamId: 3, flags: FLAG_FIN, data: new Uint8Array(0) });
      const frames = await client.readAll();
      assert.deepEqual(
        frames.filter((f) => f.type === "synReply").map((f) =>
          (f as { streamId: number }).streamId
        ),
        [1, 3, 5],
      );
      assert.ok(frames.some((f) => f.type === "ping" && f.id === 7), "the ping was echoed");
      assert.equal(dataOf(frames, 5), "hi\necho");
      const st = JSON.parse(dataOf(frames, 1));
      assert.equal(st.reason, "NonZeroExitCode");
      assert.equal(st.details.causes[0].message, "3");
      for (const id of [1, 5]) {
        assert.ok(
          frames.some((f) => f.type === "data" && f.streamId === id && (f.flags & FLAG_FIN)),
          `stream ${id} was half-closed`,
        );
      }
      assert.equal(frames.at(-1)?.type, "goAway");
      assert.deepEqual(spawner.calls[0]?.slice(0, 4), [
        "--root",
        "/fake/root",
        "exec",
        "--process",
      ]);
    } finally {
      client.close();
    }
  });
});

Deno.test("StreamServer answers 404 to a used, expired or unknown token", async () => {
  await withServer(fakeSpawner("", 0), async (server, clock) => {
    const used = server.url({ ...execRequest, stdin: false });
    const first = await Client.upgrade(used, "v4.channel.k8s.io");
    await first.client.open(1, { streamtype: ["error"] });
    await first.client.open(3, { streamtype: ["stdout"] });
    await first.client.readAll();
    first.client.close();
    const again = await Client.upgrade(used, "v4.channel.k8s.io");
    again.client.close();
    assert.equal(again.status, 404);

    const expired = server.url(execRequest);
    clock.now += 60_000;
    const late = await Client.upgrade(expired, "v4.channel.k8s.io");
    late.client.close();
    assert.equal(late.status, 404);

    const wrongKind = server.url(execRequest).replace("/exec/", "/attach/");
    const wk = await Client.upgrade(wrongKind, "v4.channel.k8s.io");
    wk.client.close();
    assert.equal(wk.status, 404);
  });
});

Deno.test("StreamServer refuses a request without the upgrade or with no common protocol", async () => {
  await withServer(fakeSpawner("", 0), async (server) => {
    const url = server.url(execRequest);
    const plain = await fetch(url, { method: "POST" });
    assert.equal(plain.status, 400);
    await plain.body?.cancel();
    const { status, client } = await Client.upgrade(url, "channel.k8s.io");
    client.close();
    assert.equal(status, 403);
    const pf = await Client.upgrade(url, "v4.channel.k8s.io");
    pf.client.close();
    assert.equal(pf.status, 101, "the token survived the refused attempts");
  });
});
