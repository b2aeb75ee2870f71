/**
 * The floor's container spec (bench/floor.ts): app containers join the pod's IPC and UTS
 * namespaces by the pinned files in the `pinned` model, by the pause's `/proc/<pid>/ns` in
 * the `infra` model.
 */
import assert from "node:assert/strict";
import { floorSpec } from "../../../bench/floor.ts";

// The parts of `runc spec` floorSpec reads or replaces.
const BASE = {
  process: { terminal: true, args: ["sh"], env: ["TERM=xterm"] },
  root: { path: "rootfs", readonly: true },
  hostname: "runc",
  linux: {
    namespaces: [{ type: "pid" }, { type: "network" }, { type: "ipc" }, { type: "uts" }, {
      type: "mount",
    }],
  },
};

Deno.test("floorSpec() joins the pinned IPC and UTS files and the netns by path", () => {
  const spec = floorSpec(BASE, {
    args: ["sleep", "3600"],
    netns: "/p/netns",
    nsPaths: { ipc: "/p/ipc", uts: "/p/uts" },
    cgroupsPath: "/ocid-bench-floor/c1",
  });
  assert.deepEqual(spec.linux.namespaces, [
    { type: "pid" },
    { type: "mount" },
    { type: "network", path: "/p/netns" },
    { type: "ipc", path: "/p/ipc" },
    { type: "uts", path: "/p/uts" },
  ]);
  assert.equal(spec.hostname, undefined, "a joined UTS namespace takes no hostname");
  assert.deepEqual(spec.process.args, ["sleep", "3600"]);
  assert.equal(spec.linux.cgroupsPath, "/ocid-bench-floor/c1");
  assert.equal(BASE.linux.namespaces.length, 5, "the base spec is not changed");
});

Deno.test("floorSpec() joins the pause's namespaces by /proc/<pid>/ns (infra)", () => {
  const spec = floorSpec(BASE, {
    args: ["sleep", "3600"],
    netns: "/p/netns",
    joinPid: 42,
    cgroupsPath: "/ocid-bench-floor/c1",
  });
  assert.deepEqual(spec.linux.namespaces.slice(2), [
    { type: "network", path: "/p/netns" },
    { type: "ipc", path: "/proc/42/ns/ipc" },
    { type: "uts", path: "/proc/42/ns/uts" },
  ]);
});

Deno.test("floorSpec() makes new IPC and UTS namespaces with the hostname for the pause", () => {
  const spec = floorSpec(BASE, {
    args: ["/pause", "-P"],
    hostname: "pod-1",
    netns: "/p/netns",
    cgroupsPath: "/ocid-bench-floor/p1",
  });
  assert.deepEqual(spec.linux.namespaces.slice(2), [
    { type: "network", path: "/p/netns" },
    { type: "ipc" },
    { type: "uts" },
  ]);
  assert.equal(spec.hostname, "pod-1");
});
