import assert from "node:assert/strict";
import { join } from "node:path";
import { recover } from "../../src/recovery.ts";
import { sandboxStatus } from "../../src/server/sandbox_status.ts";
import { addContainerRecord, addSandbox, type TestDeps, testDeps } from "./server/_fakes.ts";

/** A READY infra pod (its netns file exists) with one RUNNING container whose bundle exists. */
async function runningPod(deps: TestDeps): Promise<{ podId: string; ctrId: string }> {
  const podId = await addSandbox(deps);
  const netns = join(deps.dir, "netns");
  await Deno.writeTextFile(netns, "");
  const record = deps.sandboxes.get(podId);
  await deps.sandboxes.delete(podId);
  await deps.sandboxes.add({ ...record, metadata: { ...record.metadata, netnsPath: netns } });
  const ctrId = await runningContainer(deps, podId, "c".repeat(64), "app");
  return { podId, ctrId };
}

/** Adds a RUNNING container record of `podId` whose bundle exists. */
async function runningContainer(deps: TestDeps, podId: string, id: string, name: string) {
  await addContainerRecord(deps, { id, sandboxId: podId, name, state: "CONTAINER_RUNNING" });
  await Deno.mkdir(deps.containers.get(id).metadata.bundle, { recursive: true });
  return id;
}

/** Makes the fake runtime's `list` fail `failures` times, then list `states`. */
function flakyList(deps: TestDeps, failures: number, states: { id: string; status: string }[]) {
  let calls = 0;
  deps.fakeRuntime.list = () => {
    calls++;
    if (calls <= failures) return Promise.reject(new Error("runc list: resource busy"));
    return Promise.resolve(states.map((s) => ({ ...s, pid: 1, bundle: "" })) as never);
  };
  return () => calls;
}

Deno.test("recover() tries the runtime's list again after a failure", async () => {
  const deps = await testDeps();
  try {
    const { podId, ctrId } = await runningPod(deps);
    const calls = flakyList(deps, 2, [
      { id: podId, status: "running" },
      { id: ctrId, status: "running" },
    ]);
    const report = await recover(deps);
    assert.equal(calls(), 3);
    assert.deepEqual(report.exited, []);
    assert.equal(report.sandboxesReady, 1);
    assert.equal(report.containersRunning, 1);
    assert.equal(deps.exits.exited(podId), undefined);
    assert.equal(deps.exits.exited(ctrId), undefined);
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("recover() takes nothing for gone when the runtime cannot be listed; exit files still count", async () => {
  const deps = await testDeps();
  try {
    const { podId, ctrId } = await runningPod(deps);
    const other = await runningContainer(deps, podId, "d".repeat(64), "exiter");
    const exits = join(deps.config.runroot, "exits");
    await Deno.mkdir(exits, { recursive: true });
    await Deno.writeTextFile(join(exits, other), "7");
    const calls = flakyList(deps, Infinity, []);
    const report = await recover(deps);
    assert.equal(calls(), 3);
    assert.deepEqual(report.exited, [{ id: other, exitCode: 7, from: "exit-file" }]);
    assert.equal(deps.exits.exited(podId), undefined, "the pod is not taken for dead");
    assert.equal(deps.exits.exited(ctrId), undefined, "the container is not taken for dead");
    assert.equal(deps.sandboxes.get(podId).status.state, "SANDBOX_READY");
    assert.ok(!deps.fakeRuntime.verbs().includes("kill"), "nothing is killed");
    assert.ok(!deps.fakeRuntime.verbs().includes("delete"), "nothing is deleted");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("recover() reports no IP for a pod whose netns is gone, even when CNI DEL fails", async () => {
  const deps = await testDeps();
  try {
    const { podId, ctrId } = await runningPod(deps);
    flakyList(deps, 0, [{ id: podId, status: "running" }, { id: ctrId, status: "running" }]);
    const dels: string[] = [];
    deps.network = {
      tearDown: (req: { id: string }) => {
        dels.push(req.id);
        return Promise.reject(new Error("host-local: cannot release"));
      },
    } as unknown as TestDeps["network"];
    await Deno.remove(deps.sandboxes.get(podId).metadata.netnsPath!);
    assert.deepEqual(sandboxStatus(deps.sandboxes.get(podId)).network?.ip, "10.234.4.9");
    await recover(deps);
    assert.deepEqual(dels, [podId]);
    const status = sandboxStatus(deps.sandboxes.get(podId));
    assert.equal(status.state, "SANDBOX_NOTREADY");
    assert.equal(status.network?.ip ?? "", "", "no IP: the netns is gone");
    assert.deepEqual(status.network?.additional_ips ?? [], []);
    assert.notEqual(deps.sandboxes.get(podId).status.networkTornDown, true, "DEL is still owed");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("recover() records a container gone without an exit status as 255, reason Unknown", async () => {
  const deps = await testDeps();
  try {
    const { ctrId } = await runningPod(deps);
    flakyList(deps, 0, []); // listed, and not there
    const report = await recover(deps);
    assert.deepEqual(report.exited.find((e) => e.id === ctrId), {
      id: ctrId,
      exitCode: 255,
      from: "gone",
    });
    const event = deps.exits.exited(ctrId);
    assert.equal(event?.exitCode, 255);
    assert.match(event?.unknown ?? "", /gone, with no exit status/);
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});
