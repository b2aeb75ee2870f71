import assert from "node:assert/strict";
import type { ContainerConfig } from "../../../src/cri/types.ts";
import { FailedPreconditionError } from "../../../src/errors.ts";
import {
  canExecInContainer,
  canRemoveContainer,
  canStartContainer,
  canStopContainer,
  canUpdateContainer,
  containerExited,
  type ContainerMetadata,
  containerStarted,
  type ContainerState,
  type ContainerStatus,
  containerUnknown,
  createContainerStore,
  newContainerStatus,
} from "../../../src/store/mod.ts";
import { FakeRecordFs } from "./_fake_fs.ts";

const META: ContainerMetadata = {
  sandboxId: "pod1",
  // Only the fields this test reads; the store keeps whatever JSON it is given.
  config: {
    metadata: { name: "app", attempt: 0 },
    image: { image: "busybox" },
  } as unknown as ContainerConfig,
  imageRef: "busybox:latest",
  imageId: "sha256:abc",
  logPath: "/var/log/pods/x/app/0.log",
  bundle: "/run/ocid/containers/c1/bundle",
  createdAt: "1",
};

const status = (state: ContainerState): ContainerStatus => newContainerStatus({ state });

Deno.test("newContainerStatus() starts created with zero values", () => {
  assert.deepEqual(newContainerStatus(), {
    state: "CONTAINER_CREATED",
    pid: 0,
    conmonPid: 0,
    startedAt: "0",
    finishedAt: "0",
    exitCode: 0,
    reason: "",
    message: "",
  });
});

Deno.test("container predicates follow the state machine", () => {
  const table: Array<[ContainerState, boolean, boolean, boolean, boolean, boolean]> = [
    // state, start, stop, remove, exec, update
    ["CONTAINER_CREATED", true, false, true, false, true],
    ["CONTAINER_RUNNING", false, true, false, true, true],
    ["CONTAINER_EXITED", false, false, true, false, false],
    ["CONTAINER_UNKNOWN", false, true, false, false, false],
  ];
  for (const [state, start, stop, remove, exec, update] of table) {
    const s = status(state);
    assert.equal(canStartContainer(s), start, `start ${state}`);
    assert.equal(canStopContainer(s), stop, `stop ${state}`);
    assert.equal(canRemoveContainer(s), remove, `remove ${state}`);
    assert.equal(canExecInContainer(s), exec, `exec ${state}`);
    assert.equal(canUpdateContainer(s), update, `update ${state}`);
  }
});

Deno.test("containerStarted() moves CREATED to RUNNING and refuses anything else", () => {
  const running = containerStarted(status("CONTAINER_CREATED"), { pid: 9, startedAt: "100" });
  assert.equal(running.state, "CONTAINER_RUNNING");
  assert.equal(running.pid, 9);
  assert.equal(running.startedAt, "100");
  for (const state of ["CONTAINER_RUNNING", "CONTAINER_EXITED", "CONTAINER_UNKNOWN"] as const) {
    assert.throws(
      () => containerStarted(status(state), { pid: 1, startedAt: "1" }),
      (e: unknown) => e instanceof FailedPreconditionError && e.message.includes(state),
    );
  }
});

Deno.test("containerExited() records the first exit and picks a reason", () => {
  const running = containerStarted(status("CONTAINER_CREATED"), { pid: 9, startedAt: "100" });
  const ok = containerExited(running, { exitCode: 0, finishedAt: "200" });
  assert.deepEqual(ok, {
    ...running,
    state: "CONTAINER_EXITED",
    pid: 0,
    exitCode: 0,
    finishedAt: "200",
    reason: "Completed",
    message: "",
  });
  assert.equal(containerExited(running, { exitCode: 137, finishedAt: "1" }).reason, "Error");
  const oom = containerExited(running, { exitCode: 137, finishedAt: "1", reason: "OOMKilled" });
  assert.equal(oom.reason, "OOMKilled");
  assert.deepEqual(containerExited(ok, { exitCode: 1, finishedAt: "300" }), ok);
  const failedStart = containerExited(status("CONTAINER_CREATED"), {
    exitCode: 128,
    finishedAt: "5",
    reason: "StartError",
    message: "exec: no such file",
  });
  assert.equal(failedStart.state, "CONTAINER_EXITED");
  assert.equal(failedStart.startedAt, "0");
});

Deno.test("containerUnknown() marks a live container unknown but keeps an exited one", () => {
  const unknown = containerUnknown(status("CONTAINER_RUNNING"), { message: "runc state failed" });
  assert.equal(unknown.state, "CONTAINER_UNKNOWN");
  assert.equal(unknown.reason, "Unknown");
  assert.equal(unknown.message, "runc state failed");
  const exited = containerExited(status("CONTAINER_RUNNING"), { exitCode: 0, finishedAt: "1" });
  assert.deepEqual(containerUnknown(exited), exited);
  assert.equal(
    containerExited(unknown, { exitCode: 137, finishedAt: "2" }).state,
    "CONTAINER_EXITED",
  );
});

Deno.test("createContainerStore() runs a container through its life in container.json", async () => {
  const fs = new FakeRecordFs();
  const store = createContainerStore("/root/containers", { fs });
  await store.add({ id: "c1", name: "k8s_app", metadata: META, status: newContainerStatus() });
  await store.update("c1", (s) => containerStarted(s, { pid: 5, startedAt: "10" }));
  await assert.rejects(
    store.update("c1", (s) => containerStarted(s, { pid: 6, startedAt: "11" })),
    FailedPreconditionError,
  );
  await store.update("c1", (s) => containerExited(s, { exitCode: 3, finishedAt: "20" }));
  const saved = JSON.parse(fs.files.get("/root/containers/c1/container.json")!);
  assert.equal(saved.status.state, "CONTAINER_EXITED");
  assert.equal(saved.status.exitCode, 3);
  assert.equal(saved.metadata.sandboxId, "pod1");
  assert.throws(() => store.get("c9"), /Cannot find container "c9"/);

  const again = createContainerStore("/root/containers", { fs });
  assert.deepEqual((await again.load()).loaded, ["c1"]);
  assert.deepEqual(again.get("c1"), store.get("c1"));
  await again.delete("c1");
  assert.equal(fs.files.size, 0);
});
