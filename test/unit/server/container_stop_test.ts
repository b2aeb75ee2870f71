/**
 * StopContainer with a fake runtime: which process it signals and how. The init as created (its
 * pid and start time, kept in the record) is handed to the runtime, which signals it directly;
 * the final SIGKILL goes to every process of the container (`kill --all`) unless the container
 * has a PID namespace of its own, where the kernel ends them all with the init.
 */
import assert from "node:assert/strict";
import type * as cri from "../../../src/cri/types.ts";
import { createContainer } from "../../../src/server/container_create.ts";
import { startContainer } from "../../../src/server/container_start.ts";
import { stopContainer } from "../../../src/server/container_stop.ts";
import { addSandbox, decode, type TestDeps, withTestDeps } from "./_fakes.ts";

function createRequest(sandboxId: string, pid?: "POD" | "CONTAINER"): cri.CreateContainerRequest {
  return decode("CreateContainer", {
    pod_sandbox_id: sandboxId,
    config: {
      metadata: { name: `app-${pid ?? "default"}`, attempt: 0 },
      image: { image: "127.0.0.1:5000/busybox:latest" },
      ...(pid ? { linux: { security_context: { namespace_options: { pid } } } } : {}),
    },
  });
}

/** A started container, and the signals the runtime was asked to send it so far. */
async function runningContainer(deps: TestDeps) {
  const pod = await addSandbox(deps);
  const id = (await createContainer(deps, createRequest(pod))).container_id!;
  await startContainer(deps, { container_id: id });
  const kills = () => deps.fakeRuntime.calls.filter((c) => c.verb === "kill").map((c) => c.args[0]);
  return { id, kills };
}

/** Stops `id` with `timeout`, delivering its exit once the runtime was asked to kill it. */
async function stopWithExit(deps: TestDeps, id: string, timeout: string): Promise<void> {
  const stopping = stopContainer(deps, { container_id: id, timeout });
  for (let i = 0; i < 100 && !deps.fakeRuntime.calls.some((c) => c.verb === "kill"); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  deps.exits.deliver(id, { exitCode: 137, finishedAt: new Date() });
  await stopping;
}

Deno.test("createContainer() keeps the init's start time and whether its PID namespace is its own", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const own = (await createContainer(deps, createRequest(pod))).container_id!;
    const shared = (await createContainer(deps, createRequest(pod, "POD"))).container_id!;
    assert.equal(deps.containers.get(own).status.pidStartTime, "777");
    assert.equal(deps.containers.get(own).metadata.ownPidNamespace, true);
    assert.equal(deps.containers.get(shared).metadata.ownPidNamespace, false);
  }));

Deno.test("startContainer() hands the runtime the init's pid and the bundle", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    await startContainer(deps, { container_id: id });
    const start = deps.fakeRuntime.calls.find((c) => c.verb === "start")!;
    assert.deepEqual(start.args, [{ pid: 4242, bundle: deps.containers.get(id).metadata.bundle }]);
  }));

Deno.test("stopContainer() hands the runtime the init; SIGKILL reaches every process only when the PID namespace is shared", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const init = { pid: 4242, startTime: "777" };
    const own = (await createContainer(deps, createRequest(pod))).container_id!;
    const shared = (await createContainer(deps, createRequest(pod, "POD"))).container_id!;
    for (const id of [own, shared]) await startContainer(deps, { container_id: id });
    const kills = (id: string) =>
      deps.fakeRuntime.calls.filter((c) => c.verb === "kill" && c.id === id).map((c) => c.args);

    await stopWithExit(deps, own, "0");
    assert.deepEqual(kills(own), [["KILL", { all: false, init }]]);
    await stopWithExit(deps, shared, "0");
    assert.deepEqual(kills(shared), [["KILL", { all: true, init }]]);
  }));

Deno.test("stopContainer() of a record without the init's start time leaves the signal to the runtime", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    await startContainer(deps, { container_id: id });
    // As a record written before the start time was kept.
    await deps.containers.update(id, (s) => {
      const { pidStartTime: _, ...rest } = s;
      return rest;
    });
    await stopWithExit(deps, id, "0");
    assert.deepEqual(
      deps.fakeRuntime.calls.filter((c) => c.verb === "kill").map((c) => c.args),
      [["KILL", { all: false }]],
    );
  }));

Deno.test("stopContainer() with a timeout sends the image's stop signal to the init first", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    await startContainer(deps, { container_id: id });
    assert.equal(deps.containers.get(id).metadata.stopSignal, "SIGQUIT", "the fake image's");
    await stopWithExit(deps, id, "5");
    assert.deepEqual(
      deps.fakeRuntime.calls.filter((c) => c.verb === "kill").map((c) => c.args),
      [[deps.containers.get(id).metadata.stopSignal, { init: { pid: 4242, startTime: "777" } }]],
    );
  }));

Deno.test("a second stopContainer() with a shorter timeout brings the first one's SIGKILL forward; both end together", () =>
  withTestDeps(async (deps) => {
    const { id, kills } = await runningContainer(deps);
    const started = performance.now();
    const long = stopContainer(deps, { container_id: id, timeout: "3600" });
    while (kills().length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(kills(), ["SIGQUIT"]);
    // The container ignores its stop signal; a shorter stop arrives.
    const short = stopContainer(deps, { container_id: id, timeout: "1" });
    while (kills().length < 2 && performance.now() - started < 5_000) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const waited = performance.now() - started;
    assert.ok(waited >= 900 && waited < 5_000, `SIGKILL after ${waited} ms, not 3600 s`);
    deps.exits.deliver(id, { exitCode: 137, finishedAt: new Date() });
    await Promise.all([long, short]);
    assert.equal(deps.containers.get(id).status.state, "CONTAINER_EXITED");
    // A later, longer timeout changes nothing; with the container exited it returns at once.
    await stopContainer(deps, { container_id: id, timeout: "3600" });
    assert.deepEqual(kills(), ["SIGQUIT", "KILL"]);
  }));

Deno.test("a stopContainer() whose caller goes away while it waits on the stop signal sends no SIGKILL, unless a later call joined it", () =>
  withTestDeps(async (deps) => {
    const { id, kills } = await runningContainer(deps);
    const until = async (n: number) => {
      while (kills().length < n) await new Promise((r) => setTimeout(r, 5));
    };

    // containerd's TestContainerStopCancellation: the container keeps running.
    const client = new AbortController();
    const stopping = stopContainer(deps, { container_id: id, timeout: "3600" }, {
      signal: client.signal,
    });
    await until(1);
    client.abort();
    await assert.rejects(stopping, (e: unknown) => (e as { code?: string }).code === "CANCELLED");
    assert.deepEqual(kills(), ["SIGQUIT"], "no SIGKILL");
    assert.equal(deps.containers.get(id).status.state, "CONTAINER_RUNNING");

    // The next stop starts over; a shorter one joins it, then the first caller goes away: the
    // joined call's SIGKILL still comes.
    const again = new AbortController();
    const long = stopContainer(deps, { container_id: id, timeout: "3600" }, {
      signal: again.signal,
    });
    await until(2);
    const short = stopContainer(deps, { container_id: id, timeout: "1" });
    await new Promise((r) => setTimeout(r, 50));
    again.abort();
    await until(3);
    assert.deepEqual(kills(), ["SIGQUIT", "SIGQUIT", "KILL"]);
    deps.exits.deliver(id, { exitCode: 137, finishedAt: new Date() });
    await Promise.all([long, short]);
    assert.equal(deps.containers.get(id).status.state, "CONTAINER_EXITED");
  }));
