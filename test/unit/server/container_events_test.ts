/**
 * GetContainerEvents over the real lifecycle handlers with a fake runtime: which events each
 * step publishes, what they carry, their order when an exit races the start, and how a stream
 * ends (cancel, a client that falls behind).
 */
import assert from "node:assert/strict";
import type * as cri from "../../../src/cri/types.ts";
import { OcidError } from "../../../src/errors.ts";
import { getContainerEvents } from "../../../src/server/container_events.ts";
import { createContainerEventBus } from "../../../src/server/container_events.ts";
import { createContainer } from "../../../src/server/container_create.ts";
import { startContainer } from "../../../src/server/container_start.ts";
import { stopContainer } from "../../../src/server/container_stop.ts";
import { removeContainer } from "../../../src/server/container_remove.ts";
import { recordExit } from "../../../src/server/exits.ts";
import type { StreamSink } from "../../../src/server/instrument_stream.ts";
import { addSandbox, decode, type TestDeps, testDeps, withTestDeps } from "./_fakes.ts";

type Event = cri.ContainerEventResponseInit;

/** Collects every event published while it is open. */
function recorder(deps: TestDeps): { events: Event[]; stop(): Promise<void> } {
  const sub = deps.events.subscribe();
  const events: Event[] = [];
  const done = (async () => {
    for await (const e of sub) events.push(e);
  })();
  return {
    events,
    async stop() {
      await new Promise((r) => setTimeout(r, 0));
      sub.close();
      await done;
    },
  };
}

function createRequest(sandboxId: string, name = "app"): cri.CreateContainerRequest {
  return decode("CreateContainer", {
    pod_sandbox_id: sandboxId,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: "127.0.0.1:5000/busybox:latest" },
    },
  });
}

const exit = (code: number) => ({ exitCode: code, finishedAt: new Date() });
const summary = (events: Event[]) =>
  events.map((e) => `${e.container_event_type}:${e.container_id?.slice(0, 4)}`);

Deno.test("Lifecycle handlers publish CREATED, STARTED, STOPPED (own exit) and DELETED", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps, { id: "a".repeat(64) });
    const rec = recorder(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    await startContainer(deps, { container_id: id });
    // The process exits on its own: the exit hub's listener records it.
    await recordExit(deps, id, exit(3));
    await removeContainer(deps, { container_id: id });
    await rec.stop();

    assert.deepEqual(rec.events.map((e) => e.container_event_type), [
      "CONTAINER_CREATED_EVENT",
      "CONTAINER_STARTED_EVENT",
      "CONTAINER_STOPPED_EVENT",
      "CONTAINER_DELETED_EVENT",
    ]);
    for (const e of rec.events) {
      assert.equal(e.container_id, id);
      assert.equal(e.pod_sandbox_status?.id, pod);
      assert.equal(e.pod_sandbox_status?.metadata?.uid, "uid-pod", "kubelet keys on the pod UID");
      assert.match(String(e.created_at), /^\d{19}$/, "created_at is in ns");
    }
    const states = rec.events.map((e) => e.containers_statuses?.map((s) => s.state));
    assert.deepEqual(states, [
      ["CONTAINER_CREATED"],
      ["CONTAINER_RUNNING"],
      ["CONTAINER_EXITED"],
      [],
    ]);
    assert.equal(rec.events[2]!.containers_statuses?.[0]?.exit_code, 3);
    const times = rec.events.map((e) => BigInt(String(e.created_at)));
    assert.deepEqual([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), times);
  }));

Deno.test("containers_statuses lists every container of the pod", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const first = (await createContainer(deps, createRequest(pod, "one"))).container_id!;
    const rec = recorder(deps);
    const second = (await createContainer(deps, createRequest(pod, "two"))).container_id!;
    await rec.stop();
    assert.equal(rec.events.length, 1);
    assert.deepEqual(
      rec.events[0]!.containers_statuses?.map((s) => s.id).sort(),
      [first, second].sort(),
    );
  }));

Deno.test("An exit recorded before the start is published still comes after STARTED", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    const rec = recorder(deps);
    // The process exits while `runc start` returns: the exit hub records it first.
    const start = deps.fakeRuntime.start.bind(deps.fakeRuntime);
    deps.fakeRuntime.start = async (cid: string) => {
      await start(cid);
      await recordExit(deps, cid, exit(0));
    };
    await startContainer(deps, { container_id: id });
    await rec.stop();
    assert.deepEqual(summary(rec.events), [
      `CONTAINER_STARTED_EVENT:${id.slice(0, 4)}`,
      `CONTAINER_STOPPED_EVENT:${id.slice(0, 4)}`,
    ]);
    assert.equal(deps.containers.get(id).status.state, "CONTAINER_EXITED");
    const [started, stopped] = rec.events.map((e) => BigInt(String(e.created_at)));
    assert.ok(started! <= stopped!, "created_at follows delivery order");
  }));

Deno.test("One exit recorded twice at once publishes one STOPPED event", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    await startContainer(deps, { container_id: id });
    const rec = recorder(deps);
    await Promise.all([recordExit(deps, id, exit(0)), recordExit(deps, id, exit(0))]);
    await stopContainer(deps, { container_id: id, timeout: "0" }); // already exited: no event
    await rec.stop();
    assert.deepEqual(rec.events.map((e) => e.container_event_type), ["CONTAINER_STOPPED_EVENT"]);
  }));

Deno.test("A failed start publishes STOPPED with reason StartError", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    const rec = recorder(deps);
    deps.fakeRuntime.fail.start = new Error("runc start failed: boom");
    await assert.rejects(startContainer(deps, { container_id: id }), /boom/);
    await rec.stop();
    assert.deepEqual(rec.events.map((e) => e.container_event_type), ["CONTAINER_STOPPED_EVENT"]);
    assert.equal(rec.events[0]!.containers_statuses?.[0]?.reason, "StartError");
  }));

Deno.test("An infra process that exits on its own publishes the sandbox's STOPPED event", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const rec = recorder(deps);
    await recordExit(deps, pod, exit(137));
    await recordExit(deps, pod, exit(137)); // again: nothing more
    await rec.stop();
    assert.deepEqual(summary(rec.events), [`CONTAINER_STOPPED_EVENT:${pod.slice(0, 4)}`]);
    assert.equal(rec.events[0]!.pod_sandbox_status?.state, "SANDBOX_NOTREADY");
  }));

/** A sink that records messages; `blocked` makes writes wait until `release()`. */
function fakeSink(options: { blocked?: boolean } = {}) {
  const written: Event[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const sink: StreamSink<Event> = {
    write(message, writeOptions) {
      written.push(message);
      if (!options.blocked) return Promise.resolve();
      const signal = writeOptions?.signal;
      return new Promise<void>((resolve, reject) => {
        gate.then(resolve);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
  };
  return { sink, written, release };
}

Deno.test("getContainerEvents() streams events until the client cancels, then unsubscribes", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const { sink, written } = fakeSink();
    const controller = new AbortController();
    const streaming = getContainerEvents(deps, {}, sink, { signal: controller.signal });
    assert.equal(deps.events.size, 1);
    await createContainer(deps, createRequest(pod));
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(written.map((e) => e.container_event_type), ["CONTAINER_CREATED_EVENT"]);
    controller.abort(new Error("cancelled by the client"));
    await streaming;
    assert.equal(deps.events.size, 0, "the cancelled stream left the bus");
  }));

Deno.test("getContainerEvents() drops a client that stops reading with RESOURCE_EXHAUSTED", async () => {
  const deps = await testDeps();
  deps.events = createContainerEventBus({ capacity: 2 });
  try {
    const pod = await addSandbox(deps);
    const { sink, written, release } = fakeSink({ blocked: true });
    const streaming = getContainerEvents(deps, {}, sink, { signal: new AbortController().signal });
    const outcome = streaming.then(() => undefined, (err: unknown) => err);
    // The first event is being written (blocked); two more fill the buffer; the fourth overflows.
    for (const name of ["a", "b", "c", "d"]) {
      await createContainer(deps, createRequest(pod, name));
      await new Promise((r) => setTimeout(r, 0));
    }
    const err = await outcome;
    assert.ok(err instanceof OcidError && err.code === "RESOURCE_EXHAUSTED", String(err));
    assert.equal(written.length, 1);
    assert.equal(deps.events.size, 0);
    release();
  } finally {
    deps.events.close();
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("getContainerEvents() ends normally when the daemon closes the bus", () =>
  withTestDeps(async (deps) => {
    const { sink } = fakeSink();
    const streaming = getContainerEvents(deps, {}, sink, { signal: new AbortController().signal });
    deps.events.close();
    await streaming;
    assert.equal(deps.events.size, 0);
  }));
