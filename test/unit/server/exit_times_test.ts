/**
 * A container that exits within a few milliseconds of its start: the exit file's mtime (the
 * finish) comes from the kernel's coarse clock and can read earlier than the start ocid took
 * before starting it. The record never finishes before it started (critest and kubelet check
 * `finished_at >= started_at`).
 */
import assert from "node:assert/strict";
import type * as cri from "../../../src/cri/types.ts";
import { createContainer } from "../../../src/server/container_create.ts";
import { startContainer } from "../../../src/server/container_start.ts";
import { recordExit } from "../../../src/server/exits.ts";
import { notBeforeNs } from "../../../src/server/time.ts";
import { addSandbox, decode, withTestDeps } from "./_fakes.ts";

function createRequest(sandboxId: string): cri.CreateContainerRequest {
  return decode("CreateContainer", {
    pod_sandbox_id: sandboxId,
    config: {
      metadata: { name: "quick", attempt: 0 },
      image: { image: "127.0.0.1:5000/busybox:latest" },
    },
  });
}

Deno.test("notBeforeNs() keeps a time not before the floor, and no time as it is", () => {
  assert.equal(notBeforeNs("5", "7"), "7");
  assert.equal(notBeforeNs("9", "7"), "9");
  assert.equal(notBeforeNs("1700000000000000001", "1700000000000000002"), "1700000000000000002");
  assert.equal(notBeforeNs("0", "7"), "0");
  assert.equal(notBeforeNs("5", "0"), "5");
});

Deno.test("An exit recorded after the start never finishes before the start", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    await startContainer(deps, { container_id: id });
    const startedAt = deps.containers.get(id).status.startedAt;
    // An mtime 3 ms before the start, as the coarse clock gives it.
    const early = new Date(Number(BigInt(startedAt) / 1_000_000n) - 3);
    await recordExit(deps, id, { exitCode: 0, finishedAt: early });
    const s = deps.containers.get(id).status;
    assert.equal(s.state, "CONTAINER_EXITED");
    assert.equal(s.finishedAt, startedAt);
  }));

Deno.test("An exit recorded while the start runs never finishes before the start", () =>
  withTestDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const id = (await createContainer(deps, createRequest(pod))).container_id!;
    // The process exits before StartContainer records it RUNNING, its mtime a bit in the past.
    deps.fakeRuntime.start = async () => {
      await recordExit(deps, id, { exitCode: 0, finishedAt: new Date(Date.now() - 3) });
    };
    await startContainer(deps, { container_id: id });
    const s = deps.containers.get(id).status;
    assert.equal(s.state, "CONTAINER_EXITED");
    assert.notEqual(s.startedAt, "0");
    assert.ok(BigInt(s.finishedAt) >= BigInt(s.startedAt), `${s.finishedAt} < ${s.startedAt}`);
  }));
