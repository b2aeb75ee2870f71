/**
 * ListContainers and ContainerStatus answer from the store: filters, and zero processes spawned
 * for 100 containers (counted through the Runner, the fake runtime and `Deno.Command`).
 */
import assert from "node:assert/strict";
import { listContainers } from "../../../src/server/container_list.ts";
import { listPodSandbox } from "../../../src/server/sandbox_list.ts";
import { containerStatus } from "../../../src/server/container_status.ts";
import type * as cri from "../../../src/cri/types.ts";
import { addContainerRecord, addSandbox, decode, testDeps } from "./_fakes.ts";

const STATES = ["CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED"] as const;

function hexId(n: number): string {
  return n.toString(16).padStart(4, "0") + "e".repeat(60);
}

/** Counts `new Deno.Command(...)` while `fn` runs. */
async function countCommands(fn: () => Promise<void>): Promise<number> {
  const original = Deno.Command;
  let count = 0;
  // deno-lint-ignore no-explicit-any
  (Deno as any).Command = class extends original {
    constructor(cmd: string | URL, options?: Deno.CommandOptions) {
      count++;
      super(cmd, options);
    }
  };
  try {
    await fn();
  } finally {
    // deno-lint-ignore no-explicit-any
    (Deno as any).Command = original;
  }
  return count;
}

Deno.test("listContainers() of 100 containers spawns no process and filters in memory", async (t) => {
  const deps = await testDeps();
  try {
    const podA = await addSandbox(deps, { name: "a" });
    const podB = await addSandbox(deps, { name: "b" });
    for (let i = 0; i < 100; i++) {
      await addContainerRecord(deps, {
        id: hexId(i),
        sandboxId: i % 2 === 0 ? podA : podB,
        name: `c${i}`,
        labels: { index: String(i), tier: i < 10 ? "front" : "back" },
        state: STATES[i % 3]!,
      });
    }
    const list = (filter: cri.ContainerFilterInit | null) =>
      listContainers(deps, decode("ListContainers", { filter }));

    await t.step("no filter: all 100, and nothing spawned", async () => {
      let all: cri.ListContainersResponseInit = {};
      const spawned = await countCommands(async () => {
        all = await list(null);
        for (const c of all.containers!) {
          await containerStatus(deps, { container_id: c.id!, verbose: false });
        }
      });
      assert.equal(all.containers!.length, 100);
      assert.equal(spawned, 0, "Deno.Command constructed");
      assert.deepEqual(deps.countingRunner.runs, []);
      assert.deepEqual(deps.fakeRuntime.calls, []);
      const first = all.containers!.find((c) => c.id === hexId(0))!;
      assert.equal(first.pod_sandbox_id, podA);
      // kubelet 1.29's image GC matches Container.image_ref against ListImages ids.
      assert.equal(first.image_ref, deps.fakeImages.image.id);
      assert.equal(first.image_id, deps.fakeImages.image.id);
      assert.equal(first.metadata?.name, "c0");
    });

    await t.step("by ID prefix", async () => {
      const r = await list({ id: hexId(42).slice(0, 6) });
      assert.deepEqual(r.containers!.map((c) => c.id), [hexId(42)]);
    });
    await t.step("by state", async () => {
      const r = await list({ state: { state: "CONTAINER_RUNNING" } });
      assert.equal(r.containers!.length, 33);
      assert.ok(r.containers!.every((c) => c.state === "CONTAINER_RUNNING"));
    });
    await t.step("by sandbox ID (or prefix)", async () => {
      const r = await list({ pod_sandbox_id: podB.slice(0, 10) });
      assert.equal(r.containers!.length, 50);
      assert.ok(r.containers!.every((c) => c.pod_sandbox_id === podB));
    });
    await t.step("by label selector, combined with state", async () => {
      const r = await list({
        label_selector: { tier: "front" },
        state: { state: "CONTAINER_CREATED" },
      });
      assert.deepEqual(r.containers!.map((c) => c.labels!.index).sort(), ["0", "3", "6", "9"]);
    });
    await t.step("nothing matches", async () => {
      assert.deepEqual((await list({ id: "zzz" })).containers, []);
    });
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("containerStatus() reports times, exit, image and user from the record", async () => {
  const deps = await testDeps();
  try {
    const pod = await addSandbox(deps);
    await addContainerRecord(deps, { id: hexId(1), sandboxId: pod, name: "web" });
    await deps.containers.update(hexId(1), (s) => ({
      ...s,
      state: "CONTAINER_EXITED",
      startedAt: "100",
      finishedAt: "200",
      exitCode: 3,
      reason: "Error",
    }));
    const res = await containerStatus(deps, { container_id: hexId(1).slice(0, 8), verbose: true });
    const st = res.status!;
    assert.equal(st.id, hexId(1));
    assert.equal(st.state, "CONTAINER_EXITED");
    assert.equal(st.exit_code, 3);
    assert.equal(st.reason, "Error");
    assert.equal(st.started_at, "100");
    assert.equal(st.finished_at, "200");
    assert.equal(st.image?.image, "127.0.0.1:5000/busybox:latest");
    assert.equal(st.image_id, deps.fakeImages.image.id);
    const info = JSON.parse(res.info!.info!);
    assert.equal(info.sandboxID, pod);
    assert.equal(info.runtimeSpec, null, "no bundle was written for a bare record");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("listContainers() answers the same frozen entry for a record until it changes", async () => {
  const deps = await testDeps();
  try {
    const pod = await addSandbox(deps, { name: "a" });
    const id = hexId(1);
    await addContainerRecord(deps, { id, sandboxId: pod, name: "c1", state: "CONTAINER_RUNNING" });
    const entry = async () =>
      (await listContainers(deps, decode("ListContainers", {}))).containers![0]!;
    const first = await entry();
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.image));
    assert.equal(await entry(), first, "an unchanged record: the same entry");
    await deps.containers.update(id, (s) => ({ ...s, state: "CONTAINER_EXITED" }));
    const next = await entry();
    assert.notEqual(next, first);
    assert.equal(next.state, "CONTAINER_EXITED");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("listPodSandbox() answers the same frozen entry for a record until it changes", async () => {
  const deps = await testDeps();
  try {
    const pod = await addSandbox(deps, { name: "a" });
    const entry = async () => (await listPodSandbox(deps, decode("ListPodSandbox", {}))).items![0]!;
    const first = await entry();
    assert.ok(Object.isFrozen(first));
    assert.equal(await entry(), first, "an unchanged record: the same entry");
    await deps.sandboxes.update(pod, (s) => ({ ...s, state: "SANDBOX_NOTREADY" }));
    const next = await entry();
    assert.notEqual(next, first);
    assert.equal(next.state, "SANDBOX_NOTREADY");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});
