/**
 * GetContainerEvents and the CRI metrics RPCs end to end, against the real daemon with real
 * conmon, runc, CNI bridge and the test registry. Root only. Network: bridge "ocidt22",
 * 10.234.22.0/24; no traffic leaves the test's pod.
 *
 * A grpc-js client subscribes to the events, the test runs a pod with a container that exits by
 * itself and removes it, and checks the events in order; a second subscriber that cancels is
 * unsubscribed (the daemon's count of clients drops back). The metrics of a running container
 * are checked against its cgroup's own numbers (ContainerStats before and after).
 */
import assert from "node:assert/strict";
import { call, stream, type StreamRpcName } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { waitFor } from "../helpers/checks.ts";
import type { TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt22";
const SUBNET = "10.234.22.0/24";
const CGROUP_PARENT = "/ocid-it22";
const WAIT = { timeoutMs: 30_000 };
const S = 1_000_000_000n;

type Event = cri.ContainerEventResponse;

/** A subscription that collects events in the background until cancelled. */
function subscribe(daemon: TestDaemon) {
  const controller = new AbortController();
  const events: Event[] = [];
  let failure: unknown;
  const done = (async () => {
    try {
      for await (
        const e of stream(daemon.clients.runtime, "GetContainerEvents", {}, {
          signal: controller.signal,
        })
      ) events.push(e);
    } catch (err) {
      failure = err;
    }
  })();
  return {
    events,
    failure: () => failure,
    /** Resolves when the stream has ended, for whatever reason. */
    ended: done,
    async cancel() {
      controller.abort();
      await done;
    },
  };
}

/** The daemon's count of event clients after the latest join or leave it logged. */
function subscriberCount(daemon: TestDaemon): number | undefined {
  const lines = daemon.output().split("\n").filter((l) =>
    /Container event client (joined|left)/.test(l)
  );
  const m = /subscribers=(\d+)/.exec(lines.at(-1) ?? "");
  return m ? Number(m[1]) : undefined;
}

async function waitSubscribers(daemon: TestDaemon, n: number): Promise<void> {
  await waitFor(
    `${n} event subscribers`,
    () => Promise.resolve(subscriberCount(daemon) === n ? true : undefined),
    WAIT,
  );
}

const types = (events: Event[], id: string) =>
  events.filter((e) => e.container_id === id).map((e) => e.container_event_type);

/** `name{labels}` → value of a pod's or container's metrics. */
function byName(metrics: cri.Metric[]): Map<string, cri.Metric[]> {
  const out = new Map<string, cri.Metric[]>();
  for (const m of metrics) out.set(m.name, [...(out.get(m.name) ?? []), m]);
  return out;
}

function one(metrics: Map<string, cri.Metric[]>, name: string): bigint {
  const found = metrics.get(name);
  assert.equal(found?.length, 1, `one ${name} metric`);
  return BigInt(found[0]!.value!.value);
}

Deno.test({
  name: "GetContainerEvents streams a pod's lifecycle in order; metrics of a running container",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    const subs: ReturnType<typeof subscribe>[] = [];
    try {
      const started = await startDaemonWithBusybox(registry.host, {
        repo: "it22/busybox",
        bridge: BRIDGE,
        subnet: SUBNET,
      });
      daemon = started.daemon;
      const { image } = started;
      const d = daemon;
      const runtime = d.clients.runtime;

      const main = subscribe(d);
      subs.push(main);
      await waitSubscribers(d, 1);

      await t.step("a second subscriber that cancels is unsubscribed", async () => {
        const second = subscribe(d);
        subs.push(second);
        await waitSubscribers(d, 2);
        await second.cancel();
        await waitSubscribers(d, 1);
        assert.match(d.output(), /Container event client left subscriber=2 subscribers=1/);
      });

      const pod = await runTestPod(
        runtime,
        testPodConfig("ev", { namespace: "it22", cgroupParent: CGROUP_PARENT }),
      );
      const podId = pod.id;
      const create = (name: string, command: string[]) =>
        createTestContainer(runtime, pod, { name, image, command, logPath: `${name}.log` });

      let exiting = "";
      await t.step(
        "a container that exits by itself: CREATED, STARTED, STOPPED, DELETED",
        async () => {
          exiting = await create("quick", ["/bin/sh", "-c", "echo bye"]);
          await call(runtime, "StartContainer", { container_id: exiting });
          const stopped = await waitFor("the STOPPED event", () =>
            Promise.resolve(
              main.events.find((e) =>
                e.container_id === exiting && e.container_event_type === "CONTAINER_STOPPED_EVENT"
              ),
            ), WAIT);
          const own = stopped.containers_statuses.find((s) => s.id === exiting);
          assert.equal(own?.state, "CONTAINER_EXITED");
          assert.equal(own?.exit_code, 0);
          assert.equal(own?.reason, "Completed");
          assert.equal(stopped.pod_sandbox_status?.id, podId);
          assert.equal(stopped.pod_sandbox_status?.metadata?.uid, "uid-ev");
          assert.equal(stopped.pod_sandbox_status?.state, "SANDBOX_READY");
          await call(runtime, "RemoveContainer", { container_id: exiting });
          await waitFor("the DELETED event", () =>
            Promise.resolve(
              types(main.events, exiting).includes("CONTAINER_DELETED_EVENT") ? true : undefined,
            ), WAIT);
          assert.deepEqual(types(main.events, exiting), [
            "CONTAINER_CREATED_EVENT",
            "CONTAINER_STARTED_EVENT",
            "CONTAINER_STOPPED_EVENT",
            "CONTAINER_DELETED_EVENT",
          ]);
          const deleted = main.events.find((e) =>
            e.container_id === exiting && e.container_event_type === "CONTAINER_DELETED_EVENT"
          )!;
          assert.ok(
            !deleted.containers_statuses.some((s) => s.id === exiting),
            "gone from the pod",
          );
        },
      );

      let sleeper = "";
      await t.step("metrics of a running container are non-zero and sane", async () => {
        sleeper = await create("sleeper", ["/bin/sh", "-c", "exec sleep 3600"]);
        await call(runtime, "StartContainer", { container_id: sleeper });
        const { descriptors } = await call(runtime, "ListMetricDescriptors", {});
        const keys = new Map(descriptors.map((d) => [d.name, d.label_keys]));
        for (
          const name of [
            "container_cpu_usage_seconds_total",
            "container_memory_usage_bytes",
            "container_memory_working_set_bytes",
            "container_network_receive_bytes_total",
            "container_network_transmit_bytes_total",
          ]
        ) assert.ok(keys.has(name), `${name} is described`);

        const before = (await call(runtime, "ContainerStats", { container_id: sleeper })).stats!;
        const { pod_metrics } = await call(runtime, "ListPodSandboxMetrics", {});
        const after = (await call(runtime, "ContainerStats", { container_id: sleeper })).stats!;
        const pod = pod_metrics.find((p) => p.pod_sandbox_id === podId);
        assert.ok(pod, "the pod has metrics");
        for (const m of [...pod.metrics, ...pod.container_metrics.flatMap((c) => c.metrics)]) {
          assert.equal(m.label_values.length, keys.get(m.name)?.length, `labels of ${m.name}`);
        }
        const ctr = pod.container_metrics.find((c) => c.container_id === sleeper);
        assert.ok(ctr, "the running container has metrics");
        const m = byName(ctr.metrics);
        const status = (await call(runtime, "ContainerStatus", { container_id: sleeper })).status!;
        assert.deepEqual(m.get("container_memory_usage_bytes")![0]!.label_values, [
          sleeper,
          `k8s_sleeper_ev_it22_uid-ev_0`,
          status.image!.image,
        ]);

        const usage = one(m, "container_memory_usage_bytes");
        const workingSet = one(m, "container_memory_working_set_bytes");
        assert.ok(usage > 0n && usage < 1n << 30n, `memory usage ${usage} is sane`);
        assert.ok(workingSet > 0n && workingSet <= usage, `working set ${workingSet} ≤ ${usage}`);
        const cpuSeconds = one(m, "container_cpu_usage_seconds_total");
        const cpuBefore = BigInt(before.cpu!.usage_core_nano_seconds!.value);
        const cpuAfter = BigInt(after.cpu!.usage_core_nano_seconds!.value);
        assert.ok(cpuAfter > 0n, "the container has used some CPU");
        assert.ok(
          cpuBefore / S <= cpuSeconds && cpuSeconds <= cpuAfter / S,
          `CPU ${cpuSeconds} s between ContainerStats' ${cpuBefore} and ${cpuAfter} ns`,
        );
        const startedAt = one(m, "container_start_time_seconds");
        assert.equal(startedAt, BigInt(status.started_at) / S);

        const podm = byName(pod.metrics);
        assert.ok(
          one(podm, "container_memory_usage_bytes") >= usage,
          "the pod holds the container",
        );
        // sleep at least; the pod has no pause process (drop_infra_ctr).
        assert.ok(one(podm, "container_processes") >= 1n, "sleep");
        const rx = podm.get("container_network_receive_bytes_total") ?? [];
        assert.deepEqual(rx.map((r) => r.label_values.at(-1)), ["eth0"], "eth0, lo left out");
        assert.equal(rx[0]!.metric_type, "COUNTER");
      });

      await t.step("each Stream* RPC answers what its List twin does", async () => {
        const image = d.clients.image;
        const ids = (xs: { id: string }[]) => xs.map((x) => x.id).sort();
        const chunks = <M extends StreamRpcName>(client: typeof runtime, rpc: M) =>
          Array.fromAsync(stream(client, rpc, {}));

        const pods = (await call(runtime, "ListPodSandbox", {})).items;
        const streamedPods = (await chunks(runtime, "StreamPodSandboxes"))
          .flatMap((c) => c.pod_sandboxes);
        assert.deepEqual(ids(streamedPods), ids(pods));
        const ctrs = (await call(runtime, "ListContainers", {})).containers;
        assert.ok(ctrs.some((c) => c.id === sleeper), "the sleeper is listed");
        const streamedCtrs = (await chunks(runtime, "StreamContainers"))
          .flatMap((c) => c.containers);
        assert.deepEqual(ids(streamedCtrs), ids(ctrs));
        const stats = (await chunks(runtime, "StreamContainerStats"))
          .flatMap((c) => c.container_stats);
        assert.deepEqual(stats.map((x) => x.attributes!.id).sort(), ids(ctrs), "every container");
        const podStats = (await chunks(runtime, "StreamPodSandboxStats"))
          .flatMap((c) => c.pod_sandbox_stats);
        assert.deepEqual(podStats.map((x) => x.attributes!.id), [podId]);
        const metrics = (await chunks(runtime, "StreamPodSandboxMetrics"))
          .flatMap((c) => c.pod_sandbox_metrics);
        assert.deepEqual(metrics.map((x) => x.pod_sandbox_id), [podId]);
        const images = (await call(image, "ListImages", {})).images;
        assert.equal(images.length, 1, "busybox");
        const streamedImages = (await chunks(image, "StreamImages")).flatMap((c) => c.images);
        assert.deepEqual(ids(streamedImages), ids(images));

        await call(runtime, "UpdatePodSandboxResources", {
          pod_sandbox_id: podId,
          resources: { cpu_shares: "512", memory_limit_in_bytes: String(256 << 20) },
        });
      });

      await t.step(
        "stopping and removing the pod: STOPPED then DELETED, sandbox last",
        async () => {
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: podId }, { deadlineMs: 60_000 });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: podId }, {
            deadlineMs: 60_000,
          });
          await waitFor("the sandbox's DELETED event", () =>
            Promise.resolve(
              types(main.events, podId).includes("CONTAINER_DELETED_EVENT") ? true : undefined,
            ), WAIT);
          assert.deepEqual(types(main.events, podId), [
            "CONTAINER_CREATED_EVENT",
            "CONTAINER_STARTED_EVENT",
            "CONTAINER_STOPPED_EVENT",
            "CONTAINER_DELETED_EVENT",
          ]);
          assert.deepEqual(types(main.events, sleeper), [
            "CONTAINER_CREATED_EVENT",
            "CONTAINER_STARTED_EVENT",
            "CONTAINER_STOPPED_EVENT",
            "CONTAINER_DELETED_EVENT",
          ]);
          const ids = new Set([podId, exiting, sleeper]);
          assert.deepEqual(
            main.events.filter((e) => !ids.has(e.container_id)),
            [],
            "no events about anything else",
          );
          assert.equal(main.events[0]!.container_id, podId, "the sandbox's CREATED comes first");
          assert.equal(main.events.at(-1)!.container_id, podId, "its DELETED comes last");
          const sandboxDeleted = main.events.at(-1)!;
          assert.equal(sandboxDeleted.pod_sandbox_status?.id, podId, "its last status");
          assert.equal(sandboxDeleted.pod_sandbox_status?.state, "SANDBOX_NOTREADY");
          assert.deepEqual(sandboxDeleted.containers_statuses, []);
          const times = main.events.map((e) => BigInt(e.created_at));
          assert.ok(times.every((x, i) => i === 0 || times[i - 1]! <= x), "created_at grows");
          assert.equal(main.failure(), undefined, "the stream is still open");
        },
      );

      await main.cancel();
      await waitSubscribers(d, 0);

      await t.step("shutdown ends an open event stream instead of hanging", async () => {
        const open = subscribe(d);
        subs.push(open);
        await waitSubscribers(d, 1);
        const status = await d.stop();
        assert.equal(status.code, 0, d.output().split("\n").slice(-20).join("\n"));
        await open.ended;
        // The bus closed the stream (its handler ended, not cancelled); the socket closes right
        // after, so the client sees OK or, when the close wins, UNAVAILABLE.
        assert.match(d.output(), /GetContainerEvents stream ended messages=0/);
        const code = (open.failure() as { code?: number } | undefined)?.code;
        assert.ok(code === undefined || code === 14, `stream ended with code ${code}`);
      });
    } finally {
      for (const s of subs) await s.cancel();
      await daemon?.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
