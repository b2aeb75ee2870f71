/**
 * RPCs on one container that hold different locks: RemovePodSandbox (the pod's lock) against
 * RemoveContainer and StartContainer (the container's lock). The kubelet sends them from
 * different loops (its container garbage collection, its pod workers), so they meet.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Deps } from "../../../src/server/deps.ts";
import { removeContainer } from "../../../src/server/container_remove.ts";
import { removePodSandbox } from "../../../src/server/sandbox_remove.ts";
import { startContainer } from "../../../src/server/container_start.ts";
import { addContainerRecord, addSandbox, decode, type TestDeps, withTestDeps } from "./_fakes.ts";

const CTR = "e".repeat(64);

/** A pod on fake network and netns seams, with container CTR in `state`. */
async function podWithContainer(
  deps: TestDeps,
  state: "CONTAINER_CREATED" | "CONTAINER_EXITED",
): Promise<string> {
  deps.network = { tearDown: () => Promise.resolve() } as unknown as Deps["network"];
  deps.netns = { remove: () => Promise.resolve() } as unknown as Deps["netns"];
  const pod = await addSandbox(deps, { holder: "pinned" });
  await addContainerRecord(deps, { id: CTR, sandboxId: pod, name: "app", state });
  await Deno.mkdir(deps.containers.get(CTR).metadata.bundle, { recursive: true });
  // The container ends as soon as it is killed.
  const kill = deps.fakeRuntime.kill.bind(deps.fakeRuntime);
  deps.fakeRuntime.kill = async (id: string, signal: string, opts?: unknown) => {
    await kill(id, signal, opts);
    deps.exits.deliver(id, { exitCode: 137, finishedAt: new Date() });
  };
  return pod;
}

/** Makes the fake runtime's `verb` wait for the returned `open()`; `entered` when it is called. */
function gate(deps: TestDeps, verb: "delete" | "start") {
  const entered = Promise.withResolvers<void>();
  const opened = Promise.withResolvers<void>();
  const runtime = deps.fakeRuntime as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = runtime[verb]!.bind(deps.fakeRuntime);
  runtime[verb] = async (...args: unknown[]) => {
    entered.resolve();
    await opened.promise;
    return await original(...args);
  };
  return { entered: entered.promise, open: () => opened.resolve() };
}

Deno.test("RemoveContainer and RemovePodSandbox at once both succeed and remove everything", async () => {
  await withTestDeps(async (deps) => {
    const pod = await podWithContainer(deps, "CONTAINER_EXITED");
    // RemoveContainer is inside the removal (the runtime's delete) when the pod's removal comes.
    const { entered, open } = gate(deps, "delete");
    const byContainer = removeContainer(deps, { container_id: CTR });
    await entered;
    const byPod = removePodSandbox(deps, decode("RemovePodSandbox", { pod_sandbox_id: pod }));
    await new Promise((r) => setTimeout(r, 20));
    open();
    const results = await Promise.allSettled([byContainer, byPod]);
    assert.deepEqual(results.map((r) => r.status === "rejected" ? String(r.reason) : "ok"), [
      "ok",
      "ok",
    ]);
    assert.equal(deps.containers.has(CTR), false);
    assert.equal(deps.sandboxes.has(pod), false);
  });
});

Deno.test("StartContainer racing RemovePodSandbox: the removal waits for the start, which either ran or is refused, and leaves no record", async () => {
  await withTestDeps(async (deps) => {
    const pod = await podWithContainer(deps, "CONTAINER_CREATED");
    const { entered, open } = gate(deps, "start");
    const start = startContainer(deps, { container_id: CTR });
    await entered;
    const byPod = removePodSandbox(deps, decode("RemovePodSandbox", { pod_sandbox_id: pod }));
    await new Promise((r) => setTimeout(r, 20));
    // The start holds the container: nothing was killed under it.
    assert.deepEqual(deps.fakeRuntime.verbs().filter((v) => v === "kill"), []);
    open();
    await start;
    await byPod;
    assert.deepEqual(deps.fakeRuntime.verbs().slice(0, 2), ["start", "kill"]);
    assert.equal(deps.containers.has(CTR), false);
    assert.equal(deps.sandboxes.has(pod), false);
  });
});
