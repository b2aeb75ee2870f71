import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
// @ts-types="@types/ws"
import { WebSocket, WebSocketServer } from "ws";
import {
  decodeMessage,
  encodeMessage,
  framingOf,
  WsChannels,
} from "../../../src/stream/ws_channels.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A server-side WsChannels and a client socket connected to it. */
async function pair(protocol: string, readable: number[]) {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: () => protocol });
  const server = http.createServer();
  const serverSide = new Promise<WsChannels>((resolve) => {
    server.on("upgrade", (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        resolve(new WsChannels(ws, framingOf(protocol), readable));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}/`, [protocol]);
  const received: Array<string | Uint8Array> = [];
  client.on(
    "message",
    (d: Buffer, isBinary: boolean) => received.push(isBinary ? new Uint8Array(d) : d.toString()),
  );
  await new Promise((r) => client.once("open", r));
  const channels = await serverSide;
  return {
    channels,
    client,
    received,
    async close() {
      client.terminate();
      await channels.closed;
      await new Promise((r) => server.close(r));
      wss.close();
    },
  };
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<string> {
  let out = "";
  for await (const chunk of stream) out += dec.decode(chunk);
  return out;
}

Deno.test("framing: binary channel byte, base64 digit, v5 close signal", () => {
  assert.deepEqual(framingOf("v5.channel.k8s.io"), { base64: false, closeSignal: true });
  assert.deepEqual(framingOf("v4.base64.channel.k8s.io"), { base64: true, closeSignal: false });
  assert.deepEqual(framingOf(""), { base64: false, closeSignal: false });
  const b64 = framingOf("base64.channel.k8s.io");
  assert.equal(encodeMessage(1, enc.encode("ok\n"), b64), "1b2sK");
  assert.deepEqual(decodeMessage(enc.encode("0b2sK"), b64), {
    channel: 0,
    payload: enc.encode("ok\n"),
  });
  assert.equal(decodeMessage(enc.encode("0!!!"), b64), undefined);
  assert.equal(decodeMessage(new Uint8Array(), b64), undefined);
  assert.deepEqual(
    encodeMessage(2, enc.encode("x"), framingOf("v4.channel.k8s.io")),
    new Uint8Array([2, 120]),
  );
});

Deno.test("WsChannels: stdin by v5 close signal, unknown channels dropped, writes framed", async () => {
  const p = await pair("v5.channel.k8s.io", [0]);
  try {
    const stdin = collect(p.channels.channel(0));
    p.client.send(new Uint8Array([9, 1, 2])); // unknown channel
    p.client.send(new Uint8Array([1, 65])); // a channel the client may not write
    p.client.send(new Uint8Array([0, ...enc.encode("hello ")]));
    p.client.send(new Uint8Array([0, ...enc.encode("world")]));
    p.client.send(new Uint8Array([255, 0]));
    assert.equal(await stdin, "hello world");
    await p.channels.channel(1).write("out");
    await p.channels.channel(3).write(new Uint8Array());
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(p.received, [new Uint8Array([1, 111, 117, 116]), new Uint8Array([3])]);
  } finally {
    await p.close();
  }
});

Deno.test("WsChannels: base64 messages in, bad base64 dropped, text out", async () => {
  const p = await pair("base64.channel.k8s.io", [0]);
  try {
    const reader = p.channels.channel(0)[Symbol.asyncIterator]();
    p.client.send(enc.encode("0!!!"));
    p.client.send("0b2sK");
    const first = await reader.next();
    assert.equal(dec.decode(first.value as Uint8Array), "ok\n");
    await p.channels.channel(1).write("got ok\n");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(p.received, ["1" + btoa("got ok\n")]);
  } finally {
    await p.close();
  }
});

Deno.test("WsChannels: the socket's close ends every reader; end() ends one", async () => {
  const p = await pair("v4.channel.k8s.io", [0, 2]);
  const a = collect(p.channels.channel(0));
  const b = p.channels.channel(2);
  const bDone = collect(b);
  await b.end();
  assert.equal(await bDone, "");
  await p.close();
  assert.equal(await a, "");
  await assert.rejects(p.channels.channel(1).write("late"), /closed/);
});
