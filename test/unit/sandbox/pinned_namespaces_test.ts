import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import type { Runner } from "../../../src/process.ts";
import { chooseHolderKind } from "../../../src/sandbox/holder.ts";
import { PinnedNamespaces, sysctlPath } from "../../../src/sandbox/pinned_namespaces.ts";
import type { Mounter } from "../../../src/sys/mounter.ts";
import type * as cri from "../../../src/cri/types.ts";

/** A runner that records the command and fails nothing. */
function recorder(): Runner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run(cmd, args) {
      calls.push([cmd, ...args]);
      return Promise.resolve({ code: 0, stdout: new Uint8Array(), stderr: new Uint8Array() });
    },
  } as Runner & { calls: string[][] };
}

const mounter: Mounter = {
  kind: "exec",
  mount: () => Promise.resolve(),
  unmount: () => Promise.resolve(),
};

async function withPins(
  fn: (pins: PinnedNamespaces, runner: ReturnType<typeof recorder>) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-pins-" });
  const runner = recorder();
  try {
    await fn(new PinnedNamespaces({ dir, runner, mounter }), runner);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("PinnedNamespaces.pin() runs one unshare that sets the hostname and sysctls inside", async () => {
  await withPins(async (pins, runner) => {
    const paths = await pins.pin({
      id: "p1",
      ipc: true,
      uts: true,
      hostname: "web",
      sysctls: { "net.ipv4.ip_forward": "1", "kernel.shmmax": "42" },
      netnsPath: "/run/netns/p1",
    });
    assert.deepEqual(paths, { ipc: `${pins.dir}/p1/ipc`, uts: `${pins.dir}/p1/uts` });
    assert.equal(runner.calls.length, 1);
    const [cmd, ...args] = runner.calls[0]!;
    assert.equal(cmd, "unshare");
    assert.deepEqual(args.slice(0, 4), [
      `--ipc=${pins.dir}/p1/ipc`,
      `--uts=${pins.dir}/p1/uts`,
      "nsenter",
      "--net=/run/netns/p1",
    ]);
    // sh -c SCRIPT $0 hostname (name value)...: each its own argument.
    assert.deepEqual(args.slice(8), ["web", "net/ipv4/ip_forward", "1", "kernel/shmmax", "42"]);
  });
});

Deno.test("PinnedNamespaces.pin() never sets a hostname or sysctl in a namespace of the node", async () => {
  await withPins(async (pins, runner) => {
    // Host network: no UTS namespace, so the hostname is not set (it would be the node's).
    await pins.pin({ id: "p2", ipc: true, uts: false, hostname: "web", sysctls: {} });
    const args = runner.calls[0]!;
    assert.ok(!args.some((a) => a.startsWith("--uts")));
    assert.equal(args[args.indexOf("ocid-pin") + 1], "", "no hostname");
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
    assert.equal(runner.calls.length, 1, "nothing ran for the refused requests");
    assert.deepEqual(await pins.list(), ["p2"]);
  });
});

Deno.test("PinnedNamespaces.pin() with nothing to pin runs nothing", async () => {
  await withPins(async (pins, runner) => {
    assert.deepEqual(
      await pins.pin({ id: "p", ipc: false, uts: false, hostname: "x", sysctls: {} }),
      {},
    );
    assert.equal(runner.calls.length, 0);
  });
});

Deno.test("PinnedNamespaces.pin() undoes itself when unshare fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-pins-" });
  try {
    const runner: Runner = { run: () => Promise.reject(new Error("unshare: boom")) };
    const pins = new PinnedNamespaces({ dir, runner, mounter });
    await assert.rejects(
      pins.pin({ id: "p", ipc: true, uts: true, hostname: "", sysctls: {} }),
      /Cannot pin the IPC\/UTS namespaces of pod "p".*boom/,
    );
    assert.deepEqual(await pins.list(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sysctlPath() maps the dot and the slash forms", () => {
  assert.equal(sysctlPath("net.ipv4.ip_forward"), "net/ipv4/ip_forward");
  assert.equal(
    sysctlPath("net/ipv4/conf/eth0.100/forwarding"),
    "net/ipv4/conf/eth0.100/forwarding",
  );
});

Deno.test("chooseHolderKind() keeps the infra container for PID-sharing and user-namespace pods", () => {
  const config = (ns: Partial<cri.NamespaceOption> | null) =>
    ({ linux: { security_context: { namespace_options: ns } } }) as unknown as cri.PodSandboxConfig;
  assert.equal(chooseHolderKind(config({ pid: "CONTAINER" }), true), "pinned");
  assert.equal(chooseHolderKind(config({ pid: "NODE" }), true), "pinned");
  assert.equal(chooseHolderKind(config({ pid: "POD" }), true), "infra");
  assert.equal(chooseHolderKind(config(null), true), "infra", "POD is the proto's default");
  assert.equal(
    chooseHolderKind(
      config({ pid: "CONTAINER", userns_options: { mode: "POD", uids: [], gids: [] } }),
      true,
    ),
    "infra",
  );
  assert.equal(chooseHolderKind(config({ pid: "CONTAINER" }), false), "infra");
});
