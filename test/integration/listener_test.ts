/**
 * `listenUnix()` with real clients: grpc-js (sends `localhost`), a `node:http2` client and a
 * real Go gRPC client (both send the socket path as `:authority`). Each path-sending client is
 * also run against a plain grpc-js unix listener (`server.bindAsync("unix:...")`), where it must
 * fail: that proves these tests can tell the rewriter's work from a server that accepts paths.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { writeFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { listenUnix, type UnixListener } from "../../src/server/listener.ts";
import { buildGoClient, goInvoke } from "../helpers/go_client.ts";

const PROTO = `
syntax = "proto3";
package test;
message EchoRequest { string message = 1; }
message EchoReply { string message = 1; string authority = 2; }
service Echo { rpc Say(EchoRequest) returns (EchoReply); }
`;
const METHOD = "/test.Echo/Say";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Protobuf for `{message: text}` (field 1, length-delimited). */
function echoRequest(text: string): Uint8Array {
  const bytes = enc.encode(text);
  const length: number[] = [];
  for (let n = bytes.length;; n = Math.floor(n / 128)) {
    if (n < 128) {
      length.push(n);
      break;
    }
    length.push((n % 128) | 128);
  }
  const out = new Uint8Array(1 + length.length + bytes.length);
  out.set([0x0a, ...length]);
  out.set(bytes, 1 + length.length);
  return out;
}

/** Reads the string fields of an EchoReply. */
function echoReply(bytes: Uint8Array): { message: string; authority: string } {
  const out = { message: "", authority: "" };
  for (let i = 0; i < bytes.length;) {
    const tag = bytes[i++]!;
    let len = 0;
    for (let shift = 1;; shift *= 128) {
      const b = bytes[i++]!;
      len += (b & 127) * shift;
      if (b < 128) break;
    }
    const value = dec.decode(bytes.subarray(i, i + len));
    if (tag === 0x0a) out.message = value;
    if (tag === 0x12) out.authority = value;
    i += len;
  }
  return out;
}

interface Fixture {
  dir: string;
  /** The socket served by listenUnix (its parent directory did not exist). */
  sock: string;
  /** A plain grpc-js unix listener, without rewriting. */
  plain: string;
  listener: UnixListener;
  servers: grpc.Server[];
}

async function newServer(): Promise<grpc.Server> {
  const protoPath = `${await Deno.makeTempDir({ prefix: "ocid-proto-" })}/echo.proto`;
  await writeFile(protoPath, PROTO);
  const definition = protoLoader.loadSync(protoPath);
  await Deno.remove(protoPath.replace(/\/echo\.proto$/, ""), { recursive: true });
  // deno-lint-ignore no-explicit-any
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const server = new grpc.Server();
  server.addService(pkg.test.Echo.service, {
    Say(
      call: grpc.ServerUnaryCall<{ message: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      const authority = String(call.metadata.get(":authority")[0] ?? call.getHost());
      callback(null, { message: `echo ${call.request.message}`, authority });
    },
  });
  return server;
}

async function setUp(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-listener-" });
  const servers: grpc.Server[] = [];
  try {
    const server = await newServer();
    servers.push(server);
    const sock = `${dir}/run/ocid/ocid.sock`;
    const listener = await listenUnix(server, sock);
    const plainServer = await newServer();
    servers.push(plainServer);
    const plain = `${dir}/plain.sock`;
    await new Promise<void>((resolve, reject) =>
      plainServer.bindAsync(
        `unix:${plain}`,
        grpc.ServerCredentials.createInsecure(),
        (error) => (error ? reject(error) : resolve()),
      )
    );
    return { dir, sock, plain, listener, servers };
  } catch (error) {
    for (const s of servers) s.forceShutdown();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

async function tearDown(f: Fixture): Promise<void> {
  try {
    await f.listener.close();
  } finally {
    for (const s of f.servers) s.forceShutdown();
    await Deno.remove(f.dir, { recursive: true });
  }
}

/** One unary call with grpc-js's own client (it sends `:authority: localhost`). */
async function grpcJsCall(sock: string, text: string): Promise<Uint8Array> {
  const client = new grpc.Client(`unix:${sock}`, grpc.credentials.createInsecure());
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      client.makeUnaryRequest(
        METHOD,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => new Uint8Array(b),
        echoRequest(text),
        (error, value) => (error || !value ? reject(error) : resolve(value)),
      );
    });
  } finally {
    client.close();
  }
}

interface Http2Outcome {
  status?: number;
  grpcStatus?: string;
  body: Uint8Array;
  error?: string;
}

/** One gRPC call with `node:http2` that sends the socket path as `:authority`. */
async function http2Call(sock: string, authority: string, text: string): Promise<Http2Outcome> {
  const session = http2.connect("http://x", { createConnection: () => net.connect(sock) });
  const outcome: Http2Outcome = { body: new Uint8Array(0) };
  try {
    await new Promise<void>((resolve) => {
      session.on("error", (error: Error) => {
        outcome.error ??= `session: ${error.message}`;
        resolve();
      });
      const req = session.request({
        ":method": "POST",
        ":path": METHOD,
        ":authority": authority,
        ":scheme": "http",
        "content-type": "application/grpc",
        "te": "trailers",
      });
      const chunks: Uint8Array[] = [];
      req.on("response", (headers) => {
        outcome.status = Number(headers[":status"]);
        if (headers["grpc-status"] !== undefined) {
          outcome.grpcStatus = String(headers["grpc-status"]);
        }
      });
      req.on("trailers", (trailers) => {
        outcome.grpcStatus = String(trailers["grpc-status"]);
      });
      req.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      req.on("error", (error: Error) => {
        outcome.error ??= `stream: ${error.message}`;
        resolve();
      });
      req.on("close", () => {
        outcome.body = new Uint8Array(Buffer.concat(chunks));
        if (req.rstCode && outcome.grpcStatus === undefined) {
          outcome.error ??= `stream reset with code ${req.rstCode}`;
        }
        resolve();
      });
      const message = echoRequest(text);
      const frame = new Uint8Array(5 + message.length);
      new DataView(frame.buffer).setUint32(1, message.length);
      frame.set(message, 5);
      req.end(frame);
    });
  } finally {
    await new Promise<void>((resolve) => {
      if (session.destroyed) return resolve();
      session.close(() => resolve());
      session.destroy();
    });
  }
  return outcome;
}

Deno.test({
  name: "listenUnix() serves gRPC to clients that send the socket path as :authority",
  // grpc-js keeps internal timers (keepalive, channelz, backoff) past a call's end.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const goBin = buildGoClient(); // starts compiling while the other steps run
    goBin.catch(() => {}); // awaited (and reported) in the Go step
    const f = await setUp();
    try {
      await t.step("creates the directory 0750 and the socket 0660", async () => {
        assert.equal((await Deno.stat(`${f.dir}/run/ocid`)).mode! & 0o777, 0o750);
        const st = await Deno.lstat(f.sock);
        assert.ok(st.isSocket, "a socket file");
        assert.equal(st.mode! & 0o777, 0o660);
      });

      await t.step("a grpc-js client works", async () => {
        const reply = echoReply(await grpcJsCall(f.sock, "hi"));
        assert.deepEqual(reply, { message: "echo hi", authority: "localhost" });
      });

      await t.step("a node:http2 client sending the path gets grpc-status 0", async () => {
        const out = await http2Call(f.sock, f.sock, "path");
        assert.equal(out.error, undefined);
        assert.equal(out.status, 200);
        assert.equal(out.grpcStatus, "0");
        const reply = echoReply(out.body.subarray(5));
        assert.deepEqual(reply, { message: "echo path", authority: "localhost" });
      });

      await t.step("the same client fails against a plain grpc-js unix listener", async () => {
        // grpc-js's own client still works there...
        assert.equal(echoReply(await grpcJsCall(f.plain, "plain")).message, "echo plain");
        // ...but the path as :authority is refused before grpc-js sees the call.
        const out = await http2Call(f.plain, f.plain, "path");
        assert.notEqual(out.grpcStatus, "0", JSON.stringify(out));
        // Observed on Deno 2.9.6: the server sends GOAWAY PROTOCOL_ERROR (code 1).
        assert.match(out.error ?? "", /error code 1\b/, JSON.stringify(out));
      });

      await t.step("a Go gRPC client (grpc-go, path as target) works", async () => {
        const bin = await goBin;
        const out = await goInvoke(bin, f.sock, METHOD, echoRequest("go"));
        assert.equal(out.code, 0, out.message);
        assert.deepEqual(echoReply(out.response), { message: "echo go", authority: "localhost" });
        // Five calls on one connection: later requests send :authority as an indexed field
        // that points at the rewritten dynamic-table entry.
        const repeated = await goInvoke(bin, f.sock, METHOD, echoRequest("again"), { count: 5 });
        assert.equal(repeated.code, 0, repeated.message);
        assert.equal(echoReply(repeated.response).message, "echo again");
        // 1 MiB each way: flow control and back-pressure through the rewriting connection.
        const big = "x".repeat(1 << 20);
        const large = await goInvoke(bin, f.sock, METHOD, echoRequest(big), { count: 2 });
        assert.equal(large.code, 0, large.message);
        assert.equal(echoReply(large.response).message, `echo ${big}`);
        // An unknown method gets UNIMPLEMENTED from grpc-js, so the call reached it.
        const missing = await goInvoke(bin, f.sock, "/test.Echo/Nope", new Uint8Array(0));
        assert.equal(missing.code, grpc.status.UNIMPLEMENTED, missing.message);
      });

      await t.step("bad connections do not disturb the server", async () => {
        const abuse = async (bytes: Uint8Array, mode: "end" | "destroy") => {
          const socket = net.connect(f.sock);
          socket.on("error", () => {});
          socket.resume(); // read and drop what the server answers, or "close" never comes
          await new Promise<void>((resolve) => socket.on("connect", () => resolve()));
          const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
          socket.write(bytes);
          if (mode === "end") socket.end();
          else socket.destroy();
          await closed;
        };
        await abuse(enc.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "end");
        await abuse(enc.encode("PRI * HTTP/2.0\r\n\r\nSM"), "destroy");
        // A preface, then a HEADERS frame whose block never completes.
        const preface = enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        await abuse(
          new Uint8Array([...preface, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 100, 1]),
          "end",
        );
        await abuse(new Uint8Array([...preface, 0, 0, 8, 1, 4, 0, 0, 0, 1, 0x41, 0xff]), "end");
        assert.equal(echoReply(await grpcJsCall(f.sock, "alive")).message, "echo alive");
        const out = await http2Call(f.sock, f.sock, "alive");
        assert.equal(out.grpcStatus, "0", JSON.stringify(out));
      });

      await t.step("the Go client fails against a plain grpc-js unix listener", async () => {
        const bin = await goBin;
        const out = await goInvoke(bin, f.plain, METHOD, echoRequest("go"));
        // Observed: after the client's HEADERS the server sends GOAWAY (last stream 1,
        // PROTOCOL_ERROR) and grpc-go fails the call with UNAVAILABLE "transport is closing".
        assert.equal(out.code, grpc.status.UNAVAILABLE, JSON.stringify(out));
        assert.match(out.message, /transport is closing/);
        assert.equal(out.response.length, 0);
      });
    } finally {
      await tearDown(f);
    }
  },
});

Deno.test({
  name: "listenUnix() replaces stale sockets and refuses live ones and other files",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "ocid-listener-" });
    const server = await newServer();
    const opened: UnixListener[] = [];
    try {
      const sock = `${dir}/ocid.sock`;
      await t.step("a stale socket file is removed", async () => {
        // Deno removes the socket file on close(); a hard link keeps a dead socket inode.
        const stale = Deno.listen({ transport: "unix", path: `${dir}/stale.sock` });
        await Deno.link(`${dir}/stale.sock`, sock);
        stale.close();
        assert.ok((await Deno.lstat(sock)).isSocket, "a stale socket file is there");
        await assert.rejects(grpcJsCall(sock, "nobody"), "nobody serves it");
        const listener = await listenUnix(server, sock, { mode: 0o600 });
        opened.push(listener);
        assert.equal((await Deno.lstat(sock)).mode! & 0o777, 0o600);
        assert.equal(echoReply(await grpcJsCall(sock, "again")).message, "echo again");
      });
      await t.step("a socket another listener serves is refused", async () => {
        await assert.rejects(listenUnix(server, sock), /another process is serving it/);
        assert.equal(echoReply(await grpcJsCall(sock, "still")).message, "echo still");
      });
      await t.step("close() drops connections and removes the socket", async () => {
        const session = http2.connect("http://x", { createConnection: () => net.connect(sock) });
        const closed = new Promise<void>((resolve) => session.on("close", () => resolve()));
        session.on("error", () => {});
        await new Promise<void>((resolve) => session.on("connect", () => resolve()));
        await opened.pop()!.close();
        await closed;
        await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound);
      });
      await t.step("a file that is not a socket is refused", async () => {
        await Deno.writeTextFile(sock, "not a socket");
        await assert.rejects(listenUnix(server, sock), /is not a socket/);
        assert.equal(await Deno.readTextFile(sock), "not a socket");
      });
    } finally {
      for (const l of opened) await l.close();
      server.forceShutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
