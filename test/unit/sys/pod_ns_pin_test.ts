/**
 * pinPodNamespaces(): the synchronous IPC/UTS sequence against a fake thread: where the
 * hostname and each sysctl land, that every failing step leaves the thread home with nothing
 * mounted and no fd open, and the fatal cases. No root.
 */
import assert from "node:assert/strict";
import { pinPodNamespaces, type PodNsSpec } from "../../../src/sys/pod_ns_pin.ts";
import { fakeThread, HOST, POD_NET_INODE, POD_NETNS } from "./_fake_ns_libc.ts";

const IPC = "/podns/p/ipc";
const UTS = "/podns/p/uts";
const SELF = (t: string) => `/proc/thread-self/ns/${t}`;

/** A pod with both namespaces, a hostname, one IPC and one net sysctl. */
const SPEC: PodNsSpec = {
  ipc: IPC,
  uts: UTS,
  hostname: "web",
  sysctls: [
    { name: "kernel.shmmax", ns: "ipc", path: "kernel/shmmax", value: "42" },
    { name: "net.ipv4.ip_forward", ns: "net", path: "net/ipv4/ip_forward", value: "1" },
  ],
  netns: POD_NETNS,
};

Deno.test("pinPodNamespaces() sets everything inside the pod's namespaces and goes back", () => {
  const { libc, calls, mounts, landings, now, openFds } = fakeThread();
  assert.deepEqual(pinPodNamespaces(libc, SPEC), { ok: true });
  // unshare gives ipc 1000 and uts 1001.
  const inNew = { net: HOST.net, ipc: 1000, uts: 1001 };
  assert.deepEqual(landings, [
    { what: "hostname web", ns: inNew },
    { what: "/proc/sys/kernel/shmmax=42", ns: inNew },
    { what: "/proc/sys/net/ipv4/ip_forward=1", ns: { ...inNew, net: POD_NET_INODE } },
  ]);
  assert.deepEqual(Object.fromEntries(mounts), { [IPC]: 1000, [UTS]: 1001 });
  assert.deepEqual(now(), HOST, "the thread is back in the node's namespaces");
  assert.deepEqual(openFds(), []);
  assert.deepEqual(calls, [
    `open ${SELF("ipc")}`,
    `open ${SELF("uts")}`,
    `open ${SELF("net")}`,
    "unshare ipc+uts",
    "sethostname web",
    "write /proc/sys/kernel/shmmax=42",
    `open ${POD_NETNS}`,
    `setns net ${POD_NET_INODE}`,
    "close 13",
    "write /proc/sys/net/ipv4/ip_forward=1",
    `setns net ${HOST.net}`,
    `mount ipc ${IPC}`,
    `mount uts ${UTS}`,
    `setns ipc ${HOST.ipc}`,
    `setns uts ${HOST.uts}`,
    "close 10",
    "close 11",
    "close 12",
  ]);
});

Deno.test("pinPodNamespaces() with only an IPC namespace opens and enters nothing else", () => {
  const { libc, calls, mounts, now } = fakeThread();
  assert.deepEqual(pinPodNamespaces(libc, { ipc: IPC, hostname: "", sysctls: [] }), { ok: true });
  assert.deepEqual(calls, [
    `open ${SELF("ipc")}`,
    "unshare ipc",
    `mount ipc ${IPC}`,
    `setns ipc ${HOST.ipc}`,
    "close 10",
  ]);
  assert.deepEqual(Object.fromEntries(mounts), { [IPC]: 1000 });
  assert.deepEqual(now(), HOST);
});

Deno.test("pinPodNamespaces() rolls back at every failing step and stays home", async (t) => {
  const steps: [string, string][] = [
    [`open ${SELF("ipc")}`, "open"],
    [`open ${SELF("uts")}`, "open"],
    [`open ${SELF("net")}`, "open"],
    ["unshare ipc+uts", "unshare"],
    ["sethostname web", "hostname"],
    ["write /proc/sys/kernel/shmmax=42", "sysctl"],
    [`open ${POD_NETNS}`, "enter"],
    [`setns net ${POD_NET_INODE}`, "enter"],
    ["write /proc/sys/net/ipv4/ip_forward=1", "sysctl"],
    [`mount ipc ${IPC}`, "mount"],
    [`mount uts ${UTS}`, "mount"],
  ];
  for (const [label, step] of steps) {
    await t.step(`${label} fails`, () => {
      const { libc, calls, mounts, now, openFds } = fakeThread({ errors: { [label]: 5 } });
      const r = pinPodNamespaces(libc, SPEC);
      assert.ok(!r.ok, "fails");
      assert.equal(r.step, step);
      assert.equal(r.errno, 5);
      assert.equal(r.fatal, false);
      assert.match(r.detail, /error 5/);
      assert.equal(mounts.size, 0, "nothing is left mounted");
      assert.deepEqual(now(), HOST, "the thread is home");
      assert.deepEqual(openFds(), [], "every fd is closed");
      const next = calls.slice(calls.indexOf(label) + 1);
      const after = calls.slice(calls.indexOf("unshare ipc+uts") + 1);
      if (step !== "open" && step !== "unshare") {
        assert.ok(
          after.includes(`setns ipc ${HOST.ipc}`) && after.includes(`setns uts ${HOST.uts}`),
        );
      }
      assert.ok(!next.some((c) => c.startsWith("write") || c.startsWith("sethostname")));
    });
  }
  await t.step("a call that throws fails its step and the thread still goes back", () => {
    for (const label of ["sethostname web", "write /proc/sys/net/ipv4/ip_forward=1"]) {
      const { libc, mounts, now, openFds } = fakeThread({ throws: [label] });
      const r = pinPodNamespaces(libc, SPEC);
      assert.ok(!r.ok && !r.fatal && /threw/.test(r.detail), label);
      assert.equal(mounts.size, 0);
      assert.deepEqual(now(), HOST);
      assert.deepEqual(openFds(), []);
    }
  });
});

Deno.test("pinPodNamespaces() writes nothing when unshare leaves the thread where it was", () => {
  const { libc, landings, mounts, now } = fakeThread({ unshareStays: true });
  const r = pinPodNamespaces(libc, SPEC);
  assert.ok(!r.ok && r.step === "verify" && !r.fatal);
  assert.match(r.detail, /original ipc namespace/);
  assert.deepEqual(landings, [], "no hostname, no sysctl on the node");
  assert.equal(mounts.size, 0);
  assert.deepEqual(now(), HOST);
});

Deno.test("pinPodNamespaces() undoes the mounts when a file ends up holding the node's namespace", () => {
  const { libc, mounts, now } = fakeThread({ mountsNode: true });
  const r = pinPodNamespaces(libc, SPEC);
  assert.ok(!r.ok && r.step === "verify" && !r.fatal);
  assert.match(r.detail, /holds the original ipc namespace/);
  assert.equal(mounts.size, 0);
  assert.deepEqual(now(), HOST);
});

Deno.test("pinPodNamespaces() writes no net sysctl when the pod's netns is the node's", () => {
  const nodeNetns = "/run/netns/node";
  const { libc, landings, now } = fakeThread({ files: { [nodeNetns]: HOST.net } });
  const r = pinPodNamespaces(libc, { ...SPEC, netns: nodeNetns });
  assert.ok(!r.ok && r.step === "verify" && !r.fatal);
  assert.ok(!landings.some((l) => l.what.includes("/net/")), JSON.stringify(landings));
  assert.deepEqual(now(), HOST);
});

Deno.test("pinPodNamespaces() refuses a sysctl or hostname without a namespace of the pod's own", () => {
  const cases: [PodNsSpec, RegExp][] = [
    [{ ...SPEC, ipc: undefined as unknown as string }, /"kernel.shmmax" needs an IPC namespace/],
    [{ ...SPEC, netns: undefined as unknown as string }, /"net.ipv4.ip_forward" needs a network/],
    [{ ipc: IPC, hostname: "web", sysctls: [] }, /hostname needs a UTS namespace/],
    [
      { ...SPEC, sysctls: [{ name: "x", ns: "ipc", path: "kernel/../x", value: "1" }] },
      /invalid path/,
    ],
  ];
  for (const [spec, message] of cases) {
    const { libc, calls } = fakeThread();
    const r = pinPodNamespaces(libc, JSON.parse(JSON.stringify(spec)));
    assert.ok(!r.ok && r.step === "verify" && message.test(r.detail), r.ok ? "" : r.detail);
    assert.deepEqual(calls, [], "nothing ran");
  }
});

Deno.test("pinPodNamespaces() is fatal when the thread cannot get back", async (t) => {
  for (
    const [name, options] of [
      ["setns back to the IPC namespace fails", { errors: { [`setns ipc ${HOST.ipc}`]: 1 } }],
      ["setns back to the UTS namespace fails", { errors: { [`setns uts ${HOST.uts}`]: 1 } }],
      ["setns back out of the pod's netns fails", { errors: { [`setns net ${HOST.net}`]: 1 } }],
      ["setns back lands elsewhere", { strands: "uts" as const }],
    ] as const
  ) {
    await t.step(name, () => {
      const { libc, mounts, openFds } = fakeThread(options);
      const r = pinPodNamespaces(libc, SPEC);
      assert.ok(!r.ok && r.fatal, JSON.stringify(r));
      assert.equal(mounts.size, 0, "the mounts are undone");
      assert.deepEqual(openFds(), []);
    });
  }
});
