/**
 * The Stream* twins of the List RPCs: chunking, the empty case and a cancelled client; and
 * UpdatePodSandboxResources' checks. No root.
 */
import assert from "node:assert/strict";
import { STREAM_CHUNK_ITEMS, streamInChunks } from "../../../src/server/list_streams.ts";
import type { StreamSink } from "../../../src/server/instrument_stream.ts";
import { updatePodSandboxResources } from "../../../src/server/sandbox_update_resources.ts";
import { OcidError } from "../../../src/errors.ts";
import { addSandbox, decode, testDeps } from "./_fakes.ts";
import type * as cri from "../../../src/cri/types.ts";

/** A sink that keeps what it is sent. */
function collect(): StreamSink & { sent: Record<string, unknown[]>[] } {
  const sent: Record<string, unknown[]>[] = [];
  return {
    sent,
    write(message, options) {
      if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
      sent.push(message as Record<string, unknown[]>);
      return Promise.resolve();
    },
  };
}

const ctx = (signal = new AbortController().signal) => ({ signal, method: "StreamContainers" });

Deno.test("streamInChunks() sends the List answer in chunks, in order, under the Stream field", async () => {
  const n = STREAM_CHUNK_ITEMS * 2 + 7;
  const items = Array.from({ length: n }, (_, i) => ({ id: String(i) }));
  let seen: unknown;
  const handler = streamInChunks(
    (req: { filter: string }) => {
      seen = req;
      return Promise.resolve({ containers: items });
    },
    "containers",
    "containers",
  );
  const sink = collect();
  await handler({ filter: "x" }, sink, ctx());
  assert.deepEqual(seen, { filter: "x" }, "the request reaches the List handler as it is");
  assert.deepEqual(sink.sent.map((m) => m.containers!.length), [
    STREAM_CHUNK_ITEMS,
    STREAM_CHUNK_ITEMS,
    7,
  ]);
  assert.deepEqual(sink.sent.flatMap((m) => m.containers), items);
});

Deno.test("streamInChunks() renames the field and sends nothing for an empty list", async () => {
  const handler = streamInChunks(
    () => Promise.resolve({ items: [] as unknown[] }),
    "items",
    "pod_sandboxes",
  );
  const sink = collect();
  await handler({}, sink, ctx());
  assert.deepEqual(sink.sent, []);
  const one = streamInChunks(() => Promise.resolve({ items: [1] }), "items", "pod_sandboxes");
  await one({}, sink, ctx());
  assert.deepEqual(sink.sent, [{ pod_sandboxes: [1] }]);
});

Deno.test("streamInChunks() stops when the client has gone and passes List errors on", async () => {
  const controller = new AbortController();
  controller.abort(new Error("gone"));
  const handler = streamInChunks(() => Promise.resolve({ stats: [1, 2] }), "stats", "x");
  await assert.rejects(handler({}, collect(), ctx(controller.signal)), /gone/);
  const failing = streamInChunks(
    () => Promise.reject(new OcidError("NOT_FOUND", "nope")),
    "stats",
    "x",
  );
  await assert.rejects(failing({}, collect(), ctx()), /nope/);
});

Deno.test("updatePodSandboxResources() checks the pod and changes nothing", async () => {
  const deps = await testDeps();
  try {
    const id = await addSandbox(deps);
    const before = structuredClone(deps.sandboxes.get(id));
    const req = (init: unknown) =>
      decode<cri.UpdatePodSandboxResourcesRequest>("UpdatePodSandboxResources", init);
    assert.deepEqual(
      await updatePodSandboxResources(
        deps,
        req({ pod_sandbox_id: id, resources: { cpu_shares: "512" } }),
      ),
      {},
    );
    assert.deepEqual(deps.sandboxes.get(id), before);
    const code = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e) => e);
      return err instanceof OcidError ? err.code : String(err);
    };
    assert.equal(await code(updatePodSandboxResources(deps, req({}))), "INVALID_ARGUMENT");
    assert.equal(
      await code(updatePodSandboxResources(deps, req({ pod_sandbox_id: "f".repeat(64) }))),
      "NOT_FOUND",
    );
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});
