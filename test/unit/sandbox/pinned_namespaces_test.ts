import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import type { Runner } from "../../../src/process.ts";
import { chooseHolderKind } from "../../../src/sandbox/holder.ts";
import { PinnedNamespaces, sysctlPath } from "../../../src/sandbox/pinned_namespaces.ts";
import type { Mounter } from "../../../src/sys/mounter.ts";
import type { PodNsPinner, PodNsSpec } from "../../../src/sys/pod_ns_pinner.ts";
import type * as cri from "../../../src/cri/types.ts";

/** A pinner that records the specs it gets and fails nothing (or as told). */
function recorder(fail?: Error): PodNsPinner & { specs: PodNsSpec[] } {
  const specs: PodNsSpec[] = [];
  return {
    kind: "libc",
    specs,
    pin(spec) {
      specs.push(spec);
      return fail ? Promise.reject(fail) : Promise.resolve();
    },
  };
}

const mounter: Mounter = {
  kind: "exec",
  mount: () => Promise.resolve(),
  unmount: () => Promise.resolve(),
};

const runner: Runner = { run: () => Promise.reject(new Error("no program runs here")) };

async function withPins(
  fn: (pins: PinnedNamespaces, pinner: ReturnType<typeof recorder>) => Promise<void>,
  fail?: Error,
) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-pins-" });
  const pinner = recorder(fail);
  try {
    await fn(new PinnedNamespaces({ dir, runner, pinner, mounter }), pinner);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("PinnedNamespaces.pin() gives the pinner each sysctl with its namespace and path", async () => {
  await withPins(async (pins, pinner) => {
    const paths = await pins.pin({
      id: "p1",
      ipc: true,
      uts: true,
      hostname: "web",
      sysctls: { "net.ipv4.ip_forward": "1", "kernel.shmmax": "42", "net/ipv4/conf/eth0.1/x": "0" },
      netnsPath: "/run/netns/p1",
    });
    assert.deepEqual(paths, { ipc: `${pins.dir}/p1/ipc`, uts: `${pins.dir}/p1/uts` });
    assert.deepEqual(pinner.specs, [{
      ipc: `${pins.dir}/p1/ipc`,
      uts: `${pins.dir}/p1/uts`,
      hostname: "web",
      sysctls: [
        { name: "net.ipv4.ip_forward", ns: "net", path: "net/ipv4/ip_forward", value: "1" },
        { name: "kernel.shmmax", ns: "ipc", path: "kernel/shmmax", value: "42" },
        { name: "net/ipv4/conf/eth0.1/x", ns: "net", path: "net/ipv4/conf/eth0.1/x", value: "0" },
      ],
      netns: "/run/netns/p1",
    }]);
    // The files exist (empty) for the pinner to mount on.
    assert.equal((await Deno.stat(`${pins.dir}/p1/ipc`)).size, 0);
  });
});

Deno.test("PinnedNamespaces.pin() never sets a hostname or sysctl in a namespace of the node", async () => {
  await withPins(async (pins, pinner) => {
    // Host network: no UTS namespace, so the hostname is not set (it would be the node's).
    await pins.pin({ id: "p2", ipc: true, uts: false, hostname: "web", sysctls: {} });
    assert.deepEqual(pinner.specs, [{ ipc: `${pins.dir}/p2/ipc`, hostname: "", sysctls: [] }]);
    // A net sysctl without the pod's netns, an IPC one without its IPC namespace: refused.
    await assert.rejects(
      pins.pin({ id: "p3", ipc: true, uts: false, hostname: "", sysctls: { "net.x.y": "1" } }),
      InvalidArgumentError,
    );
    await assert.rejects(
      pins.pin({
        id: "p4",
        ipc: false,
        uts: true,
        hostname: "",
        sysctls: { "kernel.shmmax": "1" },
        netnsPath: "/n",
      }),
      InvalidArgumentError,
    );
    await assert.rejects(
      pins.pin({
        id: "p5",
        ipc: true,
        uts: true,
        hostname: "",
        sysctls: { "kernel.core_pattern": "|/bin/sh" },
        netnsPath: "/n",
      }),
      InvalidArgumentError,
    );
    await assert.rejects(
      pins.pin({ id: "../x", ipc: true, uts: true, hostname: "", sysctls: {} }),
      InvalidArgumentError,
    );
    assert.equal(pinner.specs.length, 1, "nothing ran for the refused requests");
    assert.deepEqual(await pins.list(), ["p2"]);
  });
});

Deno.test("PinnedNamespaces.pin() with nothing to pin runs nothing", async () => {
  await withPins(async (pins, pinner) => {
    assert.deepEqual(
      await pins.pin({ id: "p", ipc: false, uts: false, hostname: "x", sysctls: {} }),
      {},
    );
    assert.equal(pinner.specs.length, 0);
  });
});

Deno.test("PinnedNamespaces.pin() undoes itself when the pinner fails", async () => {
  await withPins(async (pins) => {
    await assert.rejects(
      pins.pin({ id: "p", ipc: true, uts: true, hostname: "", sysctls: {} }),
      /Cannot pin the IPC\/UTS namespaces of pod "p".*boom/,
    );
    assert.deepEqual(await pins.list(), []);
  }, new Error("unshare: boom"));
});

Deno.test("sysctlPath() maps the dot and the slash forms", () => {
  assert.equal(sysctlPath("net.ipv4.ip_forward"), "net/ipv4/ip_forward");
  assert.equal(
    sysctlPath("net/ipv4/conf/eth0.100/forwarding"),
    "net/ipv4/conf/eth0.100/forwarding",
  );
});

Deno.test("chooseHolderKind() keeps the infra container for PID-sharing pods", () => {
  const config = (ns: Partial<cri.NamespaceOption> | null) =>
    ({ linux: { security_context: { namespace_options: ns } } }) as unknown as cri.PodSandboxConfig;
  assert.equal(chooseHolderKind(config({ pid: "CONTAINER" }), true), "pinned");
  assert.equal(chooseHolderKind(config({ pid: "NODE" }), true), "pinned");
  assert.equal(chooseHolderKind(config({ pid: "POD" }), true), "infra");
  assert.equal(chooseHolderKind(config(null), true), "infra", "POD is the proto's default");
  assert.equal(chooseHolderKind(config({ pid: "CONTAINER" }), false), "infra");
});
