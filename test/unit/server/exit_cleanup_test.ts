/**
 * The runtime's cleanup after an exit, through the handlers with a fake runtime: recording an
 * exit starts the runtime delete and the rootfs unmount; RemoveContainer and RemovePodSandbox
 * await that work instead of doing it again, and do it themselves when it never ran or failed;
 * StartContainer defers it until `runtime start` has returned.
 */
import assert from "node:assert/strict";
import { createContainer } from "../../../src/server/container_create.ts";
import { startContainer } from "../../../src/server/container_start.ts";
import { stopContainer } from "../../../src/server/container_stop.ts";
import { removeContainer } from "../../../src/server/container_remove.ts";
import { recordExit } from "../../../src/server/exits.ts";
import { addContainerRecord, addSandbox, decode, type TestDeps, testDeps } from "./_fakes.ts";
import type * as cri from "../../../src/cri/types.ts";

async function withDeps(fn: (deps: TestDeps) => Promise<void>): Promise<void> {
  const deps = await testDeps();
  try {
    await fn(deps);
  } finally {
    await deps.cleanups.settled();
    deps.events.close();
    await Deno.remove(deps.dir, { recursive: true });
  }
}

const exit = (code: number) => ({ exitCode: code, finishedAt: new Date() });
const deletes = (deps: TestDeps, id: string) =>
  deps.fakeRuntime.calls.filter((c) => c.verb === "delete" && c.id === id).length;

function createRequest(sandboxId: string): cri.CreateContainerRequest {
  return decode("CreateContainer", {
    pod_sandbox_id: sandboxId,
    config: {
      metadata: { name: "app", attempt: 0 },
      image: { image: "127.0.0.1:5000/busybox:latest" },
    },
  });
}

/** A started container of a new pod, and its pod. */
async function running(deps: TestDeps): Promise<{ pod: string; id: string }> {
  const pod = await addSandbox(deps);
  const id = (await createContainer(deps, createRequest(pod))).container_id!;
  await startContainer(deps, { container_id: id });
  return { pod, id };
}

Deno.test("An exit recorded starts the runtime delete and the rootfs unmount", () =>
  withDeps(async (deps) => {
    const { id } = await running(deps);
    assert.ok(deps.fakeImages.mounted.has(id));
    await recordExit(deps, id, exit(0));
    await deps.cleanups.settled();
    assert.deepEqual(
      deps.fakeRuntime.calls.filter((c) => c.verb === "delete").map((c) => [c.id, c.args[0]]),
      [[id, { force: true }]],
    );
    assert.ok(!deps.fakeImages.mounted.has(id), "the rootfs is unmounted");
    assert.equal(deps.containers.get(id).status.state, "CONTAINER_EXITED", "the record stays");
    assert.equal(deps.containers.get(id).status.exitCode, 0);
  }));

Deno.test("StopContainer's own exit starts the cleanup; RemoveContainer does not redo it", () =>
  withDeps(async (deps) => {
    const { id } = await running(deps);
    // The fake runtime's kill makes the process exit, as conmon's exit file would tell.
    deps.fakeRuntime.kill = (cid: string) => {
      setTimeout(() => deps.exits.deliver(cid, exit(143)), 1);
      return Promise.resolve();
    };
    await stopContainer(deps, decode("StopContainer", { container_id: id, timeout: 10 }));
    await deps.cleanups.settled();
    assert.equal(deletes(deps, id), 1);
    await removeContainer(deps, { container_id: id });
    assert.equal(deletes(deps, id), 1, "RemoveContainer awaited the cleanup instead");
    assert.ok(!deps.containers.has(id));
    assert.ok(deps.fakeImages.removed.includes(id), "the writable layer went");
  }));

Deno.test("RemoveContainer awaits a cleanup still under way", () =>
  withDeps(async (deps) => {
    const { id } = await running(deps);
    let open!: () => void;
    const gate = new Promise<void>((r) => open = r);
    const del = deps.fakeRuntime.delete.bind(deps.fakeRuntime);
    deps.fakeRuntime.delete = async (cid: string, opts?: unknown) => {
      await gate;
      await del(cid, opts);
    };
    await recordExit(deps, id, exit(0));
    let removed = false;
    const removing = removeContainer(deps, { container_id: id }).then(() => removed = true);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(removed, false, "removal waits for the runtime delete");
    assert.ok(deps.containers.has(id));
    open();
    await removing;
    assert.equal(deletes(deps, id), 1);
    assert.ok(!deps.containers.has(id));
  }));

Deno.test("RemoveContainer does the cleanup itself when none ran (exited before a restart)", () =>
  withDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = "e".repeat(64);
    await addContainerRecord(deps, { id, sandboxId: pod, name: "old", state: "CONTAINER_EXITED" });
    deps.fakeImages.mounted.add(id);
    await removeContainer(deps, { container_id: id });
    assert.equal(deletes(deps, id), 1);
    assert.ok(!deps.fakeImages.mounted.has(id));
    assert.ok(!deps.containers.has(id));
  }));

Deno.test("RemoveContainer retries a cleanup that failed in the background", () =>
  withDeps(async (deps) => {
    const { id } = await running(deps);
    deps.fakeRuntime.fail.delete = new Error("runc delete: device or resource busy");
    await recordExit(deps, id, exit(1));
    await deps.cleanups.settled();
    assert.equal(deletes(deps, id), 1);
    assert.ok(deps.containers.has(id), "a failed cleanup changes no record");
    delete deps.fakeRuntime.fail.delete;
    await removeContainer(deps, { container_id: id });
    assert.equal(deletes(deps, id), 2);
    assert.ok(!deps.containers.has(id));
  }));

Deno.test("An exit while the runtime starts the process is cleaned up after the start", () =>
  withDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    let deletesDuringStart = -1;
    const start = deps.fakeRuntime.start.bind(deps.fakeRuntime);
    deps.fakeRuntime.start = async (cid: string) => {
      await start(cid);
      await recordExit(deps, cid, exit(0));
      await new Promise((r) => setTimeout(r, 10));
      deletesDuringStart = deletes(deps, cid);
    };
    await startContainer(deps, { container_id: id });
    await deps.cleanups.settled();
    assert.equal(deletesDuringStart, 0, "no delete while `start` runs");
    assert.equal(deletes(deps, id), 1, "the delete once the start returned");
    assert.equal(deps.containers.get(id).status.state, "CONTAINER_EXITED");
  }));

Deno.test("An infra container's exit starts its delete; a pod with pinned namespaces has none", () =>
  withDeps(async (deps) => {
    const infra = await addSandbox(deps, { name: "infra" });
    const pinned = await addSandbox(deps, { name: "pinned", holder: "pinned" });
    await recordExit(deps, infra, exit(0));
    await recordExit(deps, pinned, exit(0));
    await deps.cleanups.settled();
    assert.equal(deletes(deps, infra), 1);
    assert.equal(deletes(deps, pinned), 0);
    assert.equal(deps.sandboxes.get(infra).status.state, "SANDBOX_NOTREADY");
    // The holder's removal awaits it instead of deleting again.
    await deps.holders.of(deps.sandboxes.get(infra)).remove(deps.sandboxes.get(infra));
    assert.equal(deletes(deps, infra), 1);
  }));
