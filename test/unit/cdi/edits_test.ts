import assert from "node:assert/strict";
import { applyCdiEdits, completeDeviceNodes, type HostNode } from "../../../src/cdi/edits.ts";
import type { Spec } from "../../../src/spec/types.ts";

const hostNodes: Record<string, HostNode> = {
  "/dev/null": { type: "c", major: 1, minor: 3, mode: 0o666 },
  "/dev/vda": { type: "b", major: 254, minor: 0, mode: 0o660 },
  "/run/fifo": { type: "p", major: 0, minor: 0, mode: 0o600 },
  "/etc/passwd": { type: undefined, major: 0, minor: 0, mode: 0o644 },
};
const stat = (path: string) => {
  const node = hostNodes[path];
  return node ? Promise.resolve(node) : Promise.reject(new Deno.errors.NotFound("no such file"));
};

function baseSpec(): Spec {
  return {
    ociVersion: "1.0.2-dev",
    process: { user: { uid: 1000, gid: 1000 }, args: ["sh"], cwd: "/", env: ["PATH=/bin", "A=1"] },
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/data/sub", source: "/host/sub", options: ["rbind"] },
      { destination: "/data", source: "/host/old", options: ["rbind"] },
    ],
    linux: {
      devices: [{ type: "c", path: "/dev/x", major: 9, minor: 9 }],
      resources: { devices: [{ allow: false, access: "rwm" }] },
    },
  };
}

Deno.test("completeDeviceNodes() reads what a node leaves out from its host path", async () => {
  const [edits] = await completeDeviceNodes([{
    deviceNodes: [
      { path: "/dev/mynull", hostPath: "/dev/null" },
      { path: "/dev/vda" },
      { path: "/dev/given", type: "c", major: 10 },
      { path: "/dev/fifo", hostPath: "/run/fifo", fileMode: 0o640 },
    ],
  }], stat);
  assert.deepEqual(edits!.deviceNodes, [
    { path: "/dev/mynull", hostPath: "/dev/null", type: "c", major: 1, minor: 3, fileMode: 0o666 },
    { path: "/dev/vda", type: "b", major: 254, minor: 0, fileMode: 0o660 },
    { path: "/dev/given", type: "c", major: 10, minor: 0 },
    { path: "/dev/fifo", hostPath: "/run/fifo", type: "p", fileMode: 0o640 },
  ]);
  for (
    const [node, message] of [
      [{ path: "/dev/gone" }, /host path "\/dev\/gone": no such file/],
      [{ path: "/dev/p", hostPath: "/etc/passwd" }, /is not a device node/],
      [{ path: "/dev/n", hostPath: "/dev/null", type: "b" }, /type is "b" but .* "c"/],
    ] as const
  ) {
    await assert.rejects(completeDeviceNodes([{ deviceNodes: [node] }], stat), {
      name: "FailedPreconditionError",
      message,
    });
  }
});

Deno.test("applyCdiEdits() sets env, devices with their cgroup rules, mounts, hooks and gids", async () => {
  const spec = baseSpec();
  const edits = await completeDeviceNodes([
    { env: ["A=2", "B=3"], additionalGids: [0, 44, 44] },
    {
      deviceNodes: [{ path: "/dev/x", hostPath: "/dev/null", permissions: "rw" }, {
        path: "/dev/vda",
        uid: 0,
      }],
      mounts: [
        { hostPath: "/host/new", containerPath: "/data", options: ["ro", "rbind"] },
        { hostPath: "/lib/x.so", containerPath: "/usr/lib/x.so", type: "bind" },
      ],
      hooks: [
        { hookName: "createContainer", path: "/usr/bin/hook", args: ["hook", "a"], timeout: 5 },
        { hookName: "poststop", path: "/usr/bin/clean" },
      ],
      intelRdt: { closID: "gold" },
    },
  ], stat);
  applyCdiEdits(spec, edits);
  assert.deepEqual(spec.process!.env, ["PATH=/bin", "A=2", "B=3"]);
  assert.deepEqual(spec.process!.user.additionalGids, [44]);
  assert.deepEqual(spec.linux!.devices, [
    // Replaced at its path; owned by the process's user and group, which are not root.
    { type: "c", path: "/dev/x", major: 1, minor: 3, fileMode: 0o666, uid: 1000, gid: 1000 },
    { type: "b", path: "/dev/vda", major: 254, minor: 0, fileMode: 0o660, uid: 0, gid: 1000 },
  ]);
  assert.deepEqual(spec.linux!.resources!.devices, [
    { allow: false, access: "rwm" },
    { allow: true, type: "c", major: 1, minor: 3, access: "rw" },
    { allow: true, type: "b", major: 254, minor: 0, access: "rwm" },
  ]);
  // /data replaced, then ordered by depth: parents before their children.
  assert.deepEqual(spec.mounts!.map((m) => `${m.destination}<${m.source}`), [
    "/proc<proc",
    "/data</host/new",
    "/data/sub</host/sub",
    "/usr/lib/x.so</lib/x.so",
  ]);
  assert.deepEqual(spec.hooks, {
    createContainer: [{ path: "/usr/bin/hook", args: ["hook", "a"], timeout: 5 }],
    poststop: [{ path: "/usr/bin/clean" }],
  });
  assert.deepEqual(spec.linux!.intelRdt, { closID: "gold" });
});

Deno.test("applyCdiEdits() with no edits changes nothing", () => {
  const spec = baseSpec();
  applyCdiEdits(spec, []);
  assert.deepEqual(spec, baseSpec());
});
