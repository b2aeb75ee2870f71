import assert from "node:assert/strict";
import type { PodSandboxConfig } from "../../../src/cri/types.ts";
import { FailedPreconditionError } from "../../../src/errors.ts";
import {
  assertSandboxReady,
  canCreateContainerIn,
  canRemoveSandbox,
  canStopSandbox,
  createSandboxStore,
  newSandboxStatus,
  type SandboxMetadata,
  sandboxStopped,
} from "../../../src/store/mod.ts";
import { FakeRecordFs } from "./_fake_fs.ts";

const META: SandboxMetadata = {
  // Only the fields this test reads; the store keeps whatever JSON it is given.
  config: {
    metadata: { name: "web", namespace: "default", uid: "u1", attempt: 0 },
  } as unknown as PodSandboxConfig,
  createdAt: "1764201481043591690",
  runtimeHandler: "",
  netnsPath: "/run/ocid/netns/abc",
  logDirectory: "/var/log/pods/default_web_u1",
  bundle: "/run/ocid/sandboxes/abc/bundle",
  runDir: "/run/ocid/pods/abc",
  cgroupParent: "/kubepods/besteffort/podu1",
};

Deno.test("newSandboxStatus() starts ready with nothing set", () => {
  assert.deepEqual(newSandboxStatus({ pid: 42 }), {
    state: "SANDBOX_READY",
    pid: 42,
    conmonPid: 0,
    ips: [],
  });
});

Deno.test("sandbox predicates follow READY → NOTREADY → removed", () => {
  const ready = newSandboxStatus();
  assert.equal(canStopSandbox(ready), true);
  assert.equal(canRemoveSandbox(ready), false);
  assert.equal(canCreateContainerIn(ready), true);
  const stopped = sandboxStopped(ready, { stoppedAt: "5" });
  assert.deepEqual(stopped, { ...ready, state: "SANDBOX_NOTREADY", pid: 0, stoppedAt: "5" });
  assert.equal(canStopSandbox(stopped), false);
  assert.equal(canRemoveSandbox(stopped), true);
  assert.equal(canCreateContainerIn(stopped), false);
  assert.equal(sandboxStopped(stopped, { stoppedAt: "9" }).stoppedAt, "5", "first stop wins");
});

Deno.test("createSandboxStore() stores sandboxes in sandbox.json and checks states on load", async () => {
  const fs = new FakeRecordFs();
  const store = createSandboxStore("/root/sandboxes", { fs });
  await store.add({ id: "abc", name: "k8s_web", metadata: META, status: newSandboxStatus() });
  await store.update("abc", (s) => sandboxStopped(s, { stoppedAt: "7" }));
  assert.throws(() => assertSandboxReady(store.get("abc")), FailedPreconditionError);
  assert.throws(() => store.get("zzz"), /Cannot find pod sandbox "zzz"/);
  const text = fs.files.get("/root/sandboxes/abc/sandbox.json");
  assert.ok(text);

  const bad = JSON.parse(text);
  bad.id = "bad";
  bad.name = "other";
  bad.status.state = "SANDBOX_RUNNING";
  const noIps = JSON.parse(text);
  noIps.id = "noips";
  noIps.name = "third";
  delete noIps.status.ips;
  fs.dirs.add("/root/sandboxes/noips");
  fs.files.set("/root/sandboxes/noips/sandbox.json", JSON.stringify(noIps));
  fs.dirs.add("/root/sandboxes/bad");
  fs.files.set("/root/sandboxes/bad/sandbox.json", JSON.stringify(bad));

  const again = createSandboxStore("/root/sandboxes", { fs });
  const report = await again.load();
  assert.deepEqual(report.loaded, ["abc"]);
  assert.match(report.skipped[0]?.reason ?? "", /unknown sandbox state "SANDBOX_RUNNING"/);
  assert.match(report.skipped[1]?.reason ?? "", /sandbox status lacks ips/);
  assert.deepEqual(again.get("abc"), store.get("abc"));
});
