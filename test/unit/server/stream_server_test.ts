/**
 * Server-streaming RPCs through createCriServer and instrumentServerStream, over a real grpc-js
 * client and server on a temporary unix socket (no root): messages in order, a clean end,
 * errors mapped to gRPC codes, cancellation seen by the handler, and UNIMPLEMENTED for streams
 * ocid does not serve.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { criClients, stream } from "../../../src/cri/proto.ts";
import type * as cri from "../../../src/cri/types.ts";
import { NotFoundError } from "../../../src/errors.ts";
import { nullLogger } from "../../../src/log.ts";
import { type MetricsRecorder, noMetrics } from "../../../src/metrics/recorder.ts";
import { createCriServer, type StreamHandlerTable } from "../../../src/server/mod.ts";

async function withServer(
  streams: StreamHandlerTable,
  fn: (runtime: grpc.Client) => Promise<void>,
  metrics?: MetricsRecorder,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-unit-stream-" });
  const socket = join(dir, "s.sock");
  const server = createCriServer({}, nullLogger, { streams, ...(metrics ? { metrics } : {}) });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(
      `unix:${socket}`,
      grpc.ServerCredentials.createInsecure(),
      (err) => (err ? reject(err) : resolve()),
    )
  );
  const clients = criClients(socket);
  try {
    await fn(clients.runtime);
  } finally {
    clients.close();
    server.forceShutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

const event = (id: string): cri.ContainerEventResponseInit => ({
  container_id: id,
  container_event_type: "CONTAINER_STARTED_EVENT",
  created_at: "5",
});

async function codeOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as grpc.ServiceError).code;
  }
}

Deno.test("A streaming handler's messages reach the client in order, then the stream ends", () =>
  withServer({
    GetContainerEvents: async (_req, sink) => {
      for (const id of ["a", "b", "c"]) await sink.write(event(id));
    },
  }, async (runtime) => {
    const got = await Array.fromAsync(stream(runtime, "GetContainerEvents", {}));
    assert.deepEqual(got.map((e) => e.container_id), ["a", "b", "c"]);
    assert.equal(got[0]!.container_event_type, "CONTAINER_STARTED_EVENT");
    assert.equal(got[0]!.created_at, "5");
  }));

Deno.test("A streaming handler's domain error reaches the client as its gRPC code", () =>
  withServer({
    GetContainerEvents: async (_req, sink) => {
      await sink.write(event("a"));
      throw new NotFoundError(`Cannot find pod "x"`);
    },
  }, async (runtime) => {
    const seen: string[] = [];
    const code = await codeOf((async () => {
      for await (const e of stream(runtime, "GetContainerEvents", {})) seen.push(e.container_id);
    })());
    assert.equal(code, grpc.status.NOT_FOUND);
    assert.deepEqual(seen, ["a"]);
  }));

Deno.test("A client's cancel aborts the streaming handler's signal", async () => {
  let aborted!: () => void;
  const handlerSawAbort = new Promise<void>((r) => aborted = r);
  await withServer({
    GetContainerEvents: async (_req, sink, ctx) => {
      await sink.write(event("first"));
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
      aborted();
    },
  }, async (runtime) => {
    const controller = new AbortController();
    const code = await codeOf((async () => {
      for await (const _ of stream(runtime, "GetContainerEvents", {}, controller)) {
        controller.abort();
      }
    })());
    assert.equal(code, grpc.status.CANCELLED);
    await handlerSawAbort;
  });
});

Deno.test("A streaming RPC without a handler answers UNIMPLEMENTED", () =>
  withServer({}, async (runtime) => {
    const code = await codeOf(Array.fromAsync(stream(runtime, "GetContainerEvents", {})));
    assert.equal(code, grpc.status.UNIMPLEMENTED);
  }));

Deno.test("A finished stream is counted in the metrics with its code: OK, an error's, CANCELLED", async () => {
  const streams: string[] = [];
  const metrics: MetricsRecorder = {
    ...noMetrics,
    stream: (method, code) => void streams.push(`${method} ${code}`),
  };
  let fail = false;
  const handlers: StreamHandlerTable = {
    GetContainerEvents: async (_req, sink, ctx) => {
      await sink.write(event("a"));
      if (fail) throw new NotFoundError(`Cannot find pod "x"`);
      if (ctx.signal.aborted) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 10);
        ctx.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), {
          once: true,
        });
      });
    },
  };
  await withServer(handlers, async (runtime) => {
    await Array.fromAsync(stream(runtime, "GetContainerEvents", {}));
    fail = true;
    await codeOf(Array.fromAsync(stream(runtime, "GetContainerEvents", {})));
    fail = false;
    const controller = new AbortController();
    await codeOf((async () => {
      for await (const _ of stream(runtime, "GetContainerEvents", {}, controller)) {
        controller.abort();
      }
    })());
    for (let i = 0; i < 100 && streams.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }, metrics);
  assert.deepEqual(streams, [
    "GetContainerEvents OK",
    "GetContainerEvents NOT_FOUND",
    "GetContainerEvents CANCELLED",
  ]);
});
