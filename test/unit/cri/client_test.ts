/**
 * `criClients`, `call` and `stream` against a grpc-js server on a unix socket in a temporary
 * directory: handlers see the decoded shape, clients get decoded responses.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import { call, criClients, loadCri, stream } from "../../../src/cri/proto.ts";
import type * as cri from "../../../src/cri/types.ts";

type Unary<Req, Res> = (
  call: grpc.ServerUnaryCall<Req, Res>,
  callback: grpc.sendUnaryData<Res>,
) => void;
type ServerStream<Req, Res> = (call: grpc.ServerWritableStream<Req, Res>) => void;

/** Starts a grpc-js server with the given handlers on a fresh socket; returns a disposer. */
async function serve(
  runtime: grpc.UntypedServiceImplementation,
  image: grpc.UntypedServiceImplementation = {},
): Promise<{ socket: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-cri-client-" });
  const socket = join(dir, "cri.sock");
  const server = new grpc.Server();
  const { runtimeService, imageService } = loadCri();
  server.addService(runtimeService, runtime);
  server.addService(imageService, image);
  try {
    await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        `unix://${socket}`,
        grpc.ServerCredentials.createInsecure(),
        (error, port) => error ? reject(error) : resolve(port),
      )
    );
  } catch (error) {
    server.forceShutdown();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  return {
    socket,
    async [Symbol.asyncDispose]() {
      server.forceShutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: "call() sends a partial request and the handler receives the decoded shape",
  async fn() {
    let received: cri.RunPodSandboxRequest | undefined;
    const runPodSandbox: Unary<cri.RunPodSandboxRequest, cri.RunPodSandboxResponseInit> = (
      c,
      callback,
    ) => {
      received = c.request;
      callback(null, { pod_sandbox_id: "abc123" });
    };
    await using server = await serve({ RunPodSandbox: runPodSandbox });
    using clients = criClients(server.socket);
    const response = await call(clients.runtime, "RunPodSandbox", {
      config: { metadata: { name: "web", namespace: "default" } },
      runtime_handler: "runc",
    }, { deadlineMs: 10_000 });
    assert.deepStrictEqual(response, { pod_sandbox_id: "abc123" });
    assert.ok(received);
    assert.equal(received.runtime_handler, "runc");
    assert.deepStrictEqual(received.config?.metadata, {
      name: "web",
      uid: "",
      namespace: "default",
      attempt: 0,
    });
    assert.equal(received.config?.linux, null);
    assert.deepStrictEqual(received.config?.port_mappings, []);
  },
});

Deno.test({
  name: "call() returns int64 as strings and rejects with the handler's gRPC status",
  async fn() {
    const list: Unary<cri.ListPodSandboxRequest, cri.ListPodSandboxResponseInit> = (_c, cb) =>
      cb(null, { items: [{ id: "a", created_at: 5n, state: "SANDBOX_NOTREADY" }] });
    const status: Unary<cri.PodSandboxStatusRequest, cri.PodSandboxStatusResponseInit> = (
      c,
      cb,
    ) =>
      cb({ code: grpc.status.NOT_FOUND, details: `Cannot find pod "${c.request.pod_sandbox_id}"` });
    const imageFs: Unary<cri.ImageFsInfoRequest, cri.ImageFsInfoResponseInit> = (_c, cb) =>
      cb(null, { image_filesystems: [{ timestamp: 1, used_bytes: { value: "123" } }] });
    await using server = await serve({ ListPodSandbox: list, PodSandboxStatus: status }, {
      ImageFsInfo: imageFs,
    });
    using clients = criClients(server.socket);

    const { items } = await call(clients.runtime, "ListPodSandbox", {});
    assert.equal(items[0]?.created_at, "5");
    assert.equal(items[0]?.state, "SANDBOX_NOTREADY");
    assert.equal(items[0]?.metadata, null);

    const fs = await call(clients.image, "ImageFsInfo", {});
    assert.equal(fs.image_filesystems[0]?.used_bytes?.value, "123");
    assert.equal(fs.image_filesystems[0]?.inodes_used, null);

    await assert.rejects(
      call(clients.runtime, "PodSandboxStatus", { pod_sandbox_id: "zzz" }),
      (error: grpc.ServiceError) => {
        assert.equal(error.code, grpc.status.NOT_FOUND);
        assert.equal(error.details, 'Cannot find pod "zzz"');
        return true;
      },
    );
    await assert.rejects(
      call(clients.runtime, "Version", {}),
      (error: grpc.ServiceError) => error.code === grpc.status.UNIMPLEMENTED,
    );
  },
});

Deno.test({
  name: "stream() yields every chunk of a server stream in order, then ends",
  async fn() {
    const containers: ServerStream<cri.StreamContainersRequest, cri.StreamContainersResponseInit> =
      (c) => {
        assert.equal(c.request.filter?.pod_sandbox_id, "pod1");
        c.write({ containers: [{ id: "c1", state: "CONTAINER_RUNNING" }] });
        c.write({ containers: [{ id: "c2" }, { id: "c3", created_at: "7" }] });
        c.end();
      };
    await using server = await serve({ StreamContainers: containers });
    using clients = criClients(server.socket);
    const chunks: cri.StreamContainersResponse[] = [];
    for await (
      const chunk of stream(clients.runtime, "StreamContainers", {
        filter: { pod_sandbox_id: "pod1" },
      })
    ) {
      chunks.push(chunk);
    }
    assert.deepEqual(chunks.map((c) => c.containers.map((x) => x.id)), [["c1"], ["c2", "c3"]]);
    assert.equal(chunks[0]?.containers[0]?.state, "CONTAINER_RUNNING");
    assert.equal(chunks[1]?.containers[0]?.state, "CONTAINER_CREATED");
    assert.equal(chunks[1]?.containers[1]?.created_at, "7");
  },
});

Deno.test({
  name: "stream() stops an endless event stream when its signal aborts",
  async fn() {
    let cancelled: () => void = () => {};
    const serverSawCancel = new Promise<void>((resolve) => cancelled = resolve);
    const events: ServerStream<cri.GetEventsRequest, cri.ContainerEventResponseInit> = (c) => {
      c.on("cancelled", () => cancelled());
      c.write({ container_id: "c1", container_event_type: "CONTAINER_STARTED_EVENT" });
    };
    await using server = await serve({ GetContainerEvents: events });
    using clients = criClients(server.socket);
    const abort = new AbortController();
    const seen: cri.ContainerEventResponse[] = [];
    await assert.rejects(async () => {
      for await (
        const event of stream(clients.runtime, "GetContainerEvents", {}, { signal: abort.signal })
      ) {
        seen.push(event);
        abort.abort();
      }
    }, (error: grpc.ServiceError) => error.code === grpc.status.CANCELLED);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.container_event_type, "CONTAINER_STARTED_EVENT");
    assert.equal(seen[0]?.pod_sandbox_status, null);
    await serverSawCancel;
  },
});
