/**
 * A container's whole life leaves nothing behind in the daemon's heap: after a warm-up, more
 * lifecycles (RunPodSandbox, CreateContainer, StartContainer, ExecSync, the single-ID stats,
 * statuses, UpdateContainerResources, ReopenContainerLog, the pod and container lists,
 * StopContainer, StopPodSandbox, RemovePodSandbox) must not add objects, arrays, closures or
 * strings in proportion to their number. Two heap snapshots (over the V8 inspector on loopback,
 * after a full GC) are compared by kind of node and constructor name, which tells a
 * per-container leak of a few objects from the noise that a total heap size hides (code
 * compiled as the JIT tiers up grows it too). The daemon's open fds must not grow either. Once
 * per way pods hold their namespaces (pinned files, infra container). Root only. Network: bridge
 * "ocidt48", 10.234.48.0/24.
 *
 * @module
 */
import assert from "node:assert/strict";
import { call } from "../../src/cri/proto.ts";
import { type HeapSnapshot, summarizeHeap } from "../../bench/heap.ts";
import { Cdp } from "../../bench/profile.ts";
import { listDir, pushBusybox } from "../helpers/checks.ts";
import { startDaemon, testEachHolderMode } from "../helpers/daemon.ts";
import { freePort } from "../helpers/free_port.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt48";
const SUBNET = "10.234.48.0/24";
const CGROUP_PARENT = "/ocid-it48";
const WARM_UP = 15;
const MEASURED = 40;
/** The kinds of heap node a leak of ocid's own data shows up as. */
const KINDS = new Set(["object", "array", "closure", "string"]);

/** Node counts by kind and name, after a full GC. */
async function heapCounts(cdp: Cdp): Promise<Map<string, number>> {
  const chunks: string[] = [];
  cdp.on("HeapProfiler.addHeapSnapshotChunk", (p) => chunks.push((p as { chunk: string }).chunk));
  await cdp.send("HeapProfiler.collectGarbage");
  await cdp.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  const counts = new Map<string, number>();
  for (const g of summarizeHeap(JSON.parse(chunks.join("")) as HeapSnapshot).groups) {
    // V8's own bookkeeping ("system / ...") grows with compiled code, not with ocid's data.
    if (!KINDS.has(g.type) || g.name.startsWith("system /")) continue;
    counts.set(`${g.type} ${g.name || "(all)"}`, g.count);
  }
  return counts;
}

testEachHolderMode({
  name: "a container's whole lifecycle leaves no objects behind in the daemon's heap, nor fds",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(_t, mode) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it48/busybox");
    const inspector = `127.0.0.1:${freePort()}`;
    const daemon = await startDaemon({
      bridge: BRIDGE,
      subnet: SUBNET,
      denoFlags: [`--inspect=${inspector}`],
      dropInfraCtr: mode.dropInfraCtr,
    });
    let cdp: Cdp | undefined;
    try {
      const { runtime } = daemon.clients;
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      cdp = await Cdp.connect(inspector);
      await cdp.send("HeapProfiler.enable");
      const lifecycle = async (i: number) => {
        const pod = await runTestPod(
          runtime,
          testPodConfig(`heap-${i}`, { namespace: "it48", cgroupParent: CGROUP_PARENT }),
        );
        const id = await createTestContainer(runtime, pod, {
          name: "c",
          image,
          command: ["/bin/busybox", "sleep", "3600"],
        });
        await call(runtime, "StartContainer", { container_id: id });
        const exec = await call(runtime, "ExecSync", {
          container_id: id,
          cmd: ["true"],
          timeout: 10,
        });
        assert.equal(exec.exit_code, 0);
        await call(runtime, "ContainerStats", { container_id: id });
        await call(runtime, "PodSandboxStats", { pod_sandbox_id: pod.id });
        // What kubelet asks besides: statuses (verbose too), the lists, resource updates,
        // log rotation. Not Exec: its URL's token waits out its TTL by design. Not the
        // List*Stats calls: they drop the stats of IDs they no longer see, and would hide a
        // leak that a client asking for one ID at a time meets.
        await call(runtime, "ContainerStatus", { container_id: id, verbose: true });
        await call(runtime, "PodSandboxStatus", { pod_sandbox_id: pod.id, verbose: true });
        await call(runtime, "UpdateContainerResources", {
          container_id: id,
          linux: { cpu_shares: 512 },
        });
        await call(runtime, "ReopenContainerLog", { container_id: id });
        await call(runtime, "ListPodSandbox", {});
        await call(runtime, "ListContainers", {});
        await call(runtime, "StopContainer", { container_id: id, timeout: 0 });
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id });
      };
      const openFds = async () => (await listDir(`/proc/${daemon.pid}/fd`)).length;
      for (let i = 0; i < WARM_UP; i++) await lifecycle(i);
      const before = await heapCounts(cdp);
      const fdsBefore = await openFds();
      for (let i = WARM_UP; i < WARM_UP + MEASURED; i++) await lifecycle(i);
      const after = await heapCounts(cdp);
      const fdsAfter = await openFds();
      assert.ok(
        fdsAfter - fdsBefore < MEASURED / 2,
        `the daemon's open fds went from ${fdsBefore} to ${fdsAfter} over ${MEASURED} lifecycles`,
      );
      // A leak keeps at least one node of a kind per lifecycle; allow less than half of that.
      const grown = [...after]
        .map(([kind, n]) => ({ kind, growth: n - (before.get(kind) ?? 0) }))
        .filter((g) => g.growth >= MEASURED / 2)
        .sort((a, b) => b.growth - a.growth);
      assert.deepEqual(
        grown,
        [],
        `nodes that grew over ${MEASURED} lifecycles: ${
          grown.map((g) => `${g.kind} +${g.growth}`).join(", ")
        }`,
      );
    } finally {
      cdp?.close();
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
