/**
 * The stats RPCs and UpdateRuntimeConfig over fake stores and fixture cgroup trees (v1 and
 * v2), a fake procfs for the pod's network counters and a counting fake of the writable-layer
 * walk. No root needed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as cri from "../../../src/cri/types.ts";
import { InvalidArgumentError, NotFoundError } from "../../../src/errors.ts";
import type { CgroupLayout } from "../../../src/cgroups/mod.ts";
import type { WritableLayerUsage } from "../../../src/image/rootfs.ts";
import type { Logger } from "../../../src/log.ts";
import type { NetnsReader } from "../../../src/sys/netns_pinner.ts";
import { listPodSandboxMetrics } from "../../../src/server/metrics_list.ts";
import { containerStats, StatsCollector } from "../../../src/server/container_stats.ts";
import { listContainerStats } from "../../../src/server/container_stats_list.ts";
import { parseNetDev, podSandboxStats } from "../../../src/server/sandbox_stats.ts";
import { listPodSandboxStats } from "../../../src/server/sandbox_stats_list.ts";
import { updateRuntimeConfig } from "../../../src/server/update_runtime_config.ts";
import { addContainerRecord, addSandbox, decode, type TestDeps, testDeps } from "./_fakes.ts";
import {
  v1Layout,
  v2Layout,
  writeTree,
  writeV1Cgroup,
  writeV2Cgroup,
} from "../cgroups/_fixtures.ts";

const S = 1_000_000_000n;

/** A fake of the image service's writable-layer walk that counts its calls. */
class FakeLayers {
  calls = 0;
  usage: WritableLayerUsage[] = [];
  writableLayerUsage(): Promise<WritableLayerUsage[]> {
    this.calls++;
    return Promise.resolve(this.usage.map((u) => ({ ...u })));
  }
}

interface Fixture {
  deps: TestDeps & { stats: StatsCollector };
  root: string;
  layers: FakeLayers;
  clock: { now: bigint };
}

/** A netns reader that records its reads and gives NET_DEV for the netns files it knows. */
class FakeNetnsReader implements NetnsReader {
  reads: [string, string][] = [];
  known = new Set<string>();
  readInNetns(netns: string, path: string): string | undefined {
    this.reads.push([netns, path]);
    return this.known.has(netns) ? NET_DEV : undefined;
  }
}

async function fixture(
  options: {
    layout?: (root: string) => CgroupLayout;
    ttlMs?: number;
    netnsReader?: NetnsReader;
  } = {},
): Promise<Fixture> {
  const base = await testDeps();
  const root = join(base.dir, "cgroup");
  const layers = new FakeLayers();
  const clock = { now: 100n * S };
  const stats = new StatsCollector(layers, {
    layout: (options.layout ?? v1Layout)(root),
    writableLayerTtlMs: options.ttlMs ?? 60_000,
    now: () => clock.now,
    procDir: join(base.dir, "proc"),
    ...(options.netnsReader ? { netnsReader: options.netnsReader } : {}),
  });
  return { deps: Object.assign(base, { stats }), root, layers, clock };
}

async function withFixture(
  fn: (f: Fixture) => Promise<void>,
  options: Parameters<typeof fixture>[0] = {},
): Promise<void> {
  const f = await fixture(options);
  try {
    await fn(f);
  } finally {
    await Deno.remove(f.deps.dir, { recursive: true });
  }
}

const id = (c: string) => c.repeat(64);

async function rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error): Promise<void> {
  await assert.rejects(p, (err) => err instanceof cls);
}

Deno.test("containerStats() reports a container's cgroup v1 CPU, memory and writable layer", async () => {
  await withFixture(async ({ deps, root, layers, clock }) => {
    const pod = await addSandbox(deps, { name: "a" });
    const cid = id("c");
    await addContainerRecord(deps, {
      id: cid,
      sandboxId: pod,
      name: "web",
      labels: { app: "web" },
      state: "CONTAINER_RUNNING",
    });
    const dir = `/ocid-unit/ocid-${cid}`;
    await writeV1Cgroup(root, dir, {
      cpuNs: String(5n * S),
      usage: 9000,
      inactiveFile: 1000,
      rss: 7000,
      limit: "20000",
    });
    layers.usage = [{ containerId: cid, path: "/x/upper", usedBytes: 4096, inodesUsed: 3 }];

    const req = decode<cri.ContainerStatsRequest>("ContainerStats", { container_id: "ccc" });
    const first = (await containerStats(deps, req)).stats!;
    assert.equal(first.attributes?.id, cid);
    assert.equal(first.attributes?.metadata?.name, "web");
    assert.deepEqual(first.attributes?.labels, { app: "web" });
    assert.equal(first.cpu?.timestamp, (100n * S).toString());
    assert.deepEqual(first.cpu?.usage_core_nano_seconds, { value: String(5n * S) });
    assert.equal(first.cpu?.usage_nano_cores, undefined, "no rate from one sample");
    assert.deepEqual(first.memory, {
      timestamp: (100n * S).toString(),
      working_set_bytes: { value: "8000" },
      usage_bytes: { value: "9000" },
      rss_bytes: { value: "7000" },
      page_faults: { value: "1000" },
      major_page_faults: { value: "7" },
      available_bytes: { value: "12000" },
    });
    assert.deepEqual(first.writable_layer, {
      timestamp: (100n * S).toString(),
      fs_id: { mountpoint: `${deps.config.root}/containers` },
      used_bytes: { value: "4096" },
      inodes_used: { value: "3" },
    });

    // Two seconds later, one more CPU second: half a core.
    clock.now += 2n * S;
    await writeTree(root, { [`cpuacct${dir}/cpuacct.usage`]: String(6n * S) });
    const second = (await containerStats(deps, req)).stats!;
    assert.deepEqual(second.cpu?.usage_core_nano_seconds, { value: String(6n * S) });
    assert.deepEqual(second.cpu?.usage_nano_cores, { value: String(S / 2n) });

    // Removed (the daemon's forget hook): its previous sample is not kept.
    assert.equal(deps.stats.cpu.size, 1);
    deps.stats.forget(cid);
    assert.equal(deps.stats.cpu.size, 0);
  });
});

Deno.test("containerStats() reads a pure cgroup v2 host, with swap", async () => {
  await withFixture(async ({ deps, root }) => {
    const pod = await addSandbox(deps, { name: "a" });
    const cid = id("d");
    await addContainerRecord(deps, {
      id: cid,
      sandboxId: pod,
      name: "w",
      state: "CONTAINER_RUNNING",
    });
    await writeV2Cgroup(root, `/ocid-unit/ocid-${cid}`, {
      usageUsec: 1500,
      current: 30_000,
      inactiveFile: 5000,
      swap: 100,
      swapMax: "1000",
    });
    const s = (await containerStats(deps, { container_id: cid })).stats!;
    assert.deepEqual(s.cpu?.usage_core_nano_seconds, { value: "1500000" });
    assert.deepEqual(s.memory?.working_set_bytes, { value: "25000" });
    assert.deepEqual(s.memory?.rss_bytes, { value: "8192" });
    assert.equal(s.memory?.available_bytes, undefined, "no limit");
    assert.deepEqual(s.swap, {
      timestamp: (100n * S).toString(),
      swap_usage_bytes: { value: "100" },
      swap_available_bytes: { value: "900" },
    });
  }, { layout: v2Layout });
});

Deno.test("containerStats() uses the cgroupsPath of the bundle's spec", async () => {
  await withFixture(async ({ deps, root }) => {
    const pod = await addSandbox(deps, { name: "a" });
    const cid = id("e");
    await addContainerRecord(deps, {
      id: cid,
      sandboxId: pod,
      name: "w",
      state: "CONTAINER_RUNNING",
    });
    const bundle = deps.containers.get(cid).metadata.bundle;
    await writeTree(bundle, {
      "config.json": JSON.stringify({ linux: { cgroupsPath: "/elsewhere/x" } }),
    });
    await writeV1Cgroup(root, "/elsewhere/x", { cpuNs: "77", usage: 1, inactiveFile: 0 });
    const s = (await containerStats(deps, { container_id: cid })).stats!;
    assert.deepEqual(s.cpu?.usage_core_nano_seconds, { value: "77" });
  });
});

Deno.test("containerStats() fails NOT_FOUND for an unknown ID and INVALID_ARGUMENT for none", async () => {
  await withFixture(async ({ deps }) => {
    await rejects(containerStats(deps, { container_id: "nope" }), NotFoundError);
    await rejects(containerStats(deps, { container_id: "" }), InvalidArgumentError);
  });
});

Deno.test("listContainerStats() filters by ID prefix, pod and labels; exited ones have no cgroup stats", async () => {
  await withFixture(async ({ deps, root, layers }) => {
    const podA = await addSandbox(deps, { name: "a" });
    const podB = await addSandbox(deps, { name: "b" });
    await addContainerRecord(deps, {
      id: id("1"),
      sandboxId: podA,
      name: "one",
      labels: { tier: "web" },
      state: "CONTAINER_RUNNING",
    });
    await addContainerRecord(deps, {
      id: id("2"),
      sandboxId: podA,
      name: "two",
      labels: { tier: "db" },
      state: "CONTAINER_EXITED",
    });
    await addContainerRecord(deps, {
      id: id("3"),
      sandboxId: podB,
      name: "three",
      labels: { tier: "web" },
      state: "CONTAINER_RUNNING",
    });
    for (const c of ["1", "2", "3"]) {
      await writeV1Cgroup(root, `/ocid-unit/ocid-${id(c)}`, {
        cpuNs: "10",
        usage: 100,
        inactiveFile: 0,
      });
    }
    const list = async (filter: cri.ContainerStatsFilterInit | null) =>
      (await listContainerStats(
        deps,
        decode<cri.ListContainerStatsRequest>("ListContainerStats", { filter }),
      )).stats!.map((s) => s.attributes!.id).sort();

    assert.deepEqual(await list(null), [id("1"), id("2"), id("3")]);
    assert.deepEqual(await list({ id: "11" }), [id("1")]);
    assert.deepEqual(await list({ pod_sandbox_id: podA.slice(0, 12) }), [id("1"), id("2")]);
    assert.deepEqual(await list({ label_selector: { tier: "web" } }), [id("1"), id("3")]);
    assert.deepEqual(await list({ pod_sandbox_id: podB, label_selector: { tier: "db" } }), []);

    const all = (await listContainerStats(deps, { filter: null })).stats!;
    const exited = all.find((s) => s.attributes!.id === id("2"))!;
    assert.equal(exited.cpu, undefined);
    assert.equal(exited.memory, undefined);
    assert.ok(all.find((s) => s.attributes!.id === id("1"))!.cpu);
    assert.equal(layers.calls, 1, "the writable-layer walk is reused within its TTL");
  });
});

Deno.test("StatsCollector.writableLayer() walks again once the TTL has passed", async () => {
  await withFixture(async ({ deps, layers }) => {
    layers.usage = [{ containerId: "x", path: "/p", usedBytes: 1, inodesUsed: 1 }];
    await Promise.all([deps.stats.writableLayer("x"), deps.stats.writableLayer("x")]);
    assert.equal(layers.calls, 1, "concurrent callers share one walk");
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual((await deps.stats.writableLayer("x"))?.usedBytes, 1);
    assert.equal(layers.calls, 2);
  }, { ttlMs: 1 });
});

Deno.test("StatsCollector.writableLayer() walks again for a container created after the cached walk", async () => {
  await withFixture(async ({ deps, layers }) => {
    layers.usage = [{ containerId: "old", path: "/p", usedBytes: 1, inodesUsed: 1 }];
    await deps.stats.writableLayer("old", Date.now() - 1000);
    await new Promise((r) => setTimeout(r, 2));
    // created after that walk, within the TTL: critest asks for its stats at once
    layers.usage.push({ containerId: "new", path: "/q", usedBytes: 2, inodesUsed: 2 });
    assert.deepEqual((await deps.stats.writableLayer("new", Date.now()))?.usedBytes, 2);
    assert.equal(layers.calls, 2);
    await deps.stats.writableLayer("old", Date.now() - 1000);
    assert.equal(await deps.stats.writableLayer("no-layer", Date.now() - 1000), undefined);
    assert.equal(layers.calls, 2, "older containers use the cached walk, found or not");
  });
});

Deno.test("podSandboxStats() reports the pod cgroup, its network and its containers", async () => {
  await withFixture(async ({ deps, root, clock }) => {
    const pod = await addSandbox(deps, { name: "a" });
    const cid = id("f");
    await addContainerRecord(deps, {
      id: cid,
      sandboxId: pod,
      name: "w",
      state: "CONTAINER_RUNNING",
    });
    await writeV1Cgroup(root, "/ocid-unit", {
      cpuNs: String(10n * S),
      usage: 50_000,
      inactiveFile: 10_000,
      pids: 6,
    });
    await writeV1Cgroup(root, `/ocid-unit/ocid-${cid}`, { cpuNs: "5", usage: 1, inactiveFile: 0 });
    await writeTree(deps.dir, {
      "proc/777/net/dev": NET_DEV,
    });
    const req = decode<cri.PodSandboxStatsRequest>("PodSandboxStats", {
      pod_sandbox_id: pod.slice(0, 10),
    });
    const s = (await podSandboxStats(deps, req)).stats!;
    assert.equal(s.attributes?.id, pod);
    assert.equal(s.attributes?.metadata?.name, "a");
    const linux = s.linux!;
    assert.deepEqual(linux.cpu?.usage_core_nano_seconds, { value: String(10n * S) });
    assert.deepEqual(linux.memory?.working_set_bytes, { value: "40000" });
    assert.deepEqual(linux.process?.process_count, { value: "6" });
    assert.equal(linux.network?.default_interface?.name, "eth0");
    assert.deepEqual(linux.network?.default_interface?.rx_bytes, { value: "1296" });
    assert.deepEqual(linux.network?.default_interface?.tx_bytes, { value: "936" });
    assert.deepEqual(linux.network?.default_interface?.rx_errors, { value: "1" });
    assert.deepEqual(linux.network?.default_interface?.tx_errors, { value: "2" });
    assert.deepEqual(linux.network?.interfaces?.map((i) => i.name), ["eth0"], "lo left out");
    assert.deepEqual(linux.containers?.map((c) => c.attributes?.id), [cid]);
    assert.deepEqual(linux.containers?.[0]?.cpu?.usage_core_nano_seconds, { value: "5" });

    clock.now += S;
    await writeTree(root, { "cpuacct/ocid-unit/cpuacct.usage": String(12n * S) });
    const again = (await podSandboxStats(deps, req)).stats!;
    assert.deepEqual(again.linux?.cpu?.usage_nano_cores, { value: String(2n * S) });
  });
});

Deno.test("podSandboxStats() never sends network usage without a default interface (the kubelet dereferences it)", async () => {
  await withFixture(async ({ deps }) => {
    const pod = await addSandbox(deps, { name: "a" });
    const [head1, head2, lo] = NET_DEV.split("\n");
    const net1 =
      "  net1:     700       7    0    0    0     0          0         0      500       5    0    0    0     0       0          0";
    const network = async (lines: string[]) => {
      await writeTree(deps.dir, { "proc/777/net/dev": [head1, head2, ...lines, ""].join("\n") });
      return (await podSandboxStats(deps, { pod_sandbox_id: pod })).stats!.linux!.network;
    };
    // A CNI plugin that named the pod's interface otherwise: that one is the default.
    const only = await network([lo!, net1]);
    assert.equal(only?.default_interface?.name, "net1");
    assert.deepEqual(only?.default_interface?.rx_bytes, { value: "700" });
    assert.deepEqual(only?.interfaces?.map((i) => i.name), ["net1"]);
    // No interface but lo: no network usage at all.
    assert.equal(await network([lo!]), undefined);
  });
});

Deno.test("podSandboxStats() of a pinned pod without a running container reads its netns file", async (t) => {
  const reader = new FakeNetnsReader();
  await withFixture(async ({ deps }) => {
    const pod = await addSandbox(deps, { name: "p", holder: "pinned" });
    const netns = deps.sandboxes.get(pod).metadata.netnsPath!;
    reader.known.add(netns);
    const network = async () =>
      (await podSandboxStats(deps, { pod_sandbox_id: pod })).stats!.linux!.network;

    await t.step("with no container at all", async () => {
      const n = await network();
      assert.equal(n?.default_interface?.name, "eth0");
      assert.deepEqual(n?.default_interface?.rx_bytes, { value: "1296" });
      assert.deepEqual(n?.interfaces?.map((i) => i.name), ["eth0"], "lo left out");
      assert.deepEqual(reader.reads, [[netns, "/proc/thread-self/net/dev"]]);
    });

    await t.step("after its container exited", async () => {
      await addContainerRecord(deps, {
        id: id("e"),
        sandboxId: pod,
        name: "gone",
        state: "CONTAINER_EXITED",
      });
      assert.deepEqual((await network())?.default_interface?.tx_bytes, { value: "936" });
      assert.equal(reader.reads.length, 2);
    });

    await t.step("ListPodSandboxStats and ListPodSandboxMetrics show the counters", async () => {
      const listed = await listPodSandboxStats(deps, { filter: null });
      assert.deepEqual(
        listed.stats!.find((s) => s.attributes?.id === pod)?.linux?.network?.default_interface
          ?.rx_bytes,
        { value: "1296" },
      );
      const metrics = await listPodSandboxMetrics(deps, {});
      const podMetrics = metrics.pod_metrics!.find((m) => m.pod_sandbox_id === pod)!;
      const rx = podMetrics.metrics!.find((m) =>
        m.name === "container_network_receive_bytes_total"
      );
      assert.deepEqual(rx?.label_values, [pod, "POD", "", "eth0"]);
      assert.deepEqual(rx?.value, { value: "1296" });
    });

    await t.step(
      "a running container's process is read instead, with no namespace change",
      async () => {
        reader.reads = [];
        await addContainerRecord(deps, {
          id: id("r"),
          sandboxId: pod,
          name: "runs",
          state: "CONTAINER_RUNNING",
        });
        // The fake container has pid 1.
        await writeTree(deps.dir, { "proc/1/net/dev": NET_DEV.replace("1296", "4242") });
        assert.deepEqual((await network())?.default_interface?.rx_bytes, { value: "4242" });
        assert.deepEqual(reader.reads, []);
      },
    );

    await t.step("a netns the reader cannot read gives no counters", async () => {
      const other = await addSandbox(deps, { name: "q", holder: "pinned" });
      const s = await podSandboxStats(deps, { pod_sandbox_id: other });
      assert.equal(s.stats!.linux!.network, undefined);
    });
  }, { netnsReader: reader });
});

Deno.test("podSandboxStats() without a netns reader (OCID_NETNS=exec) has no counters for a pod with no process", async () => {
  await withFixture(async ({ deps }) => {
    const pod = await addSandbox(deps, { name: "p", holder: "pinned" });
    const s = await podSandboxStats(deps, { pod_sandbox_id: pod });
    assert.equal(s.stats!.linux!.network, undefined);
  });
});

Deno.test("podSandboxStats() of a pod without cgroup parent adds up infra and containers", async () => {
  await withFixture(async ({ deps, root }) => {
    const template = deps.sandboxes.get(await addSandbox(deps, { name: "tpl" }));
    const pod = id("9");
    await deps.sandboxes.add({
      id: pod,
      name: "k8s_noparent",
      metadata: { ...template.metadata, cgroupParent: "", netnsPath: "" },
      status: { ...template.status },
    });
    const cid = id("8");
    await addContainerRecord(deps, {
      id: cid,
      sandboxId: pod,
      name: "w",
      state: "CONTAINER_RUNNING",
    });
    await writeV1Cgroup(root, `/ocid-${pod}`, {
      cpuNs: "100",
      usage: 10,
      inactiveFile: 0,
      pids: 1,
    });
    await writeV1Cgroup(root, `/ocid-${cid}`, { cpuNs: "23", usage: 5, inactiveFile: 0, pids: 2 });
    const linux = (await podSandboxStats(deps, { pod_sandbox_id: pod })).stats!.linux!;
    assert.deepEqual(linux.cpu?.usage_core_nano_seconds, { value: "123" });
    assert.deepEqual(linux.memory?.usage_bytes, { value: "15" });
    assert.deepEqual(linux.process?.process_count, { value: "3" });
    assert.equal(linux.network, undefined, "host network: no pod network stats");
  });
});

Deno.test("podSandboxStats() of a stopped pod has attributes only; unknown pods are NOT_FOUND", async () => {
  await withFixture(async ({ deps, root }) => {
    const pod = await addSandbox(deps, { name: "a", ready: false });
    await writeV1Cgroup(root, "/ocid-unit", { cpuNs: "1", usage: 1, inactiveFile: 0 });
    const s = (await podSandboxStats(deps, { pod_sandbox_id: pod })).stats!;
    assert.equal(s.attributes?.id, pod);
    assert.equal(s.linux?.cpu, undefined);
    assert.equal(s.linux?.network, undefined);
    await rejects(podSandboxStats(deps, { pod_sandbox_id: "nope" }), NotFoundError);
    await rejects(podSandboxStats(deps, { pod_sandbox_id: "" }), InvalidArgumentError);
  });
});

Deno.test("listPodSandboxStats() lists ready pods, filtered by ID prefix and labels", async () => {
  await withFixture(async ({ deps }) => {
    const a = await addSandbox(deps, { name: "a" });
    const b = await addSandbox(deps, { name: "b" });
    await addSandbox(deps, { name: "c", ready: false });
    const list = async (filter: cri.PodSandboxStatsFilterInit | null) =>
      (await listPodSandboxStats(
        deps,
        decode<cri.ListPodSandboxStatsRequest>("ListPodSandboxStats", { filter }),
      )).stats!.map((s) => s.attributes!.id).sort();
    assert.deepEqual(await list(null), [a, b].sort());
    assert.deepEqual(await list({ id: a.slice(0, 8) }), [a]);
    assert.deepEqual(await list({ label_selector: { missing: "x" } }), []);
  });
});

Deno.test("the stats RPCs spawn no process", async () => {
  await withFixture(async ({ deps }) => {
    const pod = await addSandbox(deps, { name: "a" });
    await addContainerRecord(deps, {
      id: id("1"),
      sandboxId: pod,
      name: "w",
      state: "CONTAINER_RUNNING",
    });
    const original = Deno.Command;
    let spawned = 0;
    // deno-lint-ignore no-explicit-any
    (Deno as any).Command = class extends original {
      constructor(cmd: string | URL, options?: Deno.CommandOptions) {
        spawned++;
        super(cmd, options);
      }
    };
    try {
      await listContainerStats(deps, { filter: null });
      await listPodSandboxStats(deps, { filter: null });
    } finally {
      // deno-lint-ignore no-explicit-any
      (Deno as any).Command = original;
    }
    assert.equal(spawned, 0);
    assert.equal(deps.countingRunner.runs.length, 0);
    assert.deepEqual(deps.fakeRuntime.verbs(), []);
  });
});

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     120       2    0    0    0     0          0         0      120       2    0    0    0     0       0          0
  eth0:    1296      16    1    5    0     0          0         0      936      12    2    6    0     0       0          0
`;

Deno.test("parseNetDev() reads bytes, packets, errors and drops per interface", () => {
  const counters = (rx: number[], tx: number[]) => ({
    rxBytes: rx[0],
    rxPackets: rx[1],
    rxErrors: rx[2],
    rxDropped: rx[3],
    txBytes: tx[0],
    txPackets: tx[1],
    txErrors: tx[2],
    txDropped: tx[3],
  });
  assert.deepEqual(parseNetDev(NET_DEV), [
    { name: "lo", ...counters([120, 2, 0, 0], [120, 2, 0, 0]) },
    { name: "eth0", ...counters([1296, 16, 1, 5], [936, 12, 2, 6]) },
  ]);
});

Deno.test("updateRuntimeConfig() logs the pod CIDR and succeeds", async () => {
  const lines: string[] = [];
  const log: Logger = {
    debug() {},
    info: (m, f) => lines.push(`${m} ${JSON.stringify(f)}`),
    warn() {},
    error() {},
  };
  const req = decode<cri.UpdateRuntimeConfigRequest>("UpdateRuntimeConfig", {
    runtime_config: { network_config: { pod_cidr: "10.234.15.0/24" } },
  });
  assert.deepEqual(await updateRuntimeConfig({ log }, req), {});
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /10\.234\.15\.0\/24/);
  assert.deepEqual(await updateRuntimeConfig({ log }, { runtime_config: null }), {});
});
