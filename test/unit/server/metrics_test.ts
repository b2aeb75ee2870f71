/**
 * ListMetricDescriptors and ListPodSandboxMetrics over fixture cgroup trees (v1), a fake procfs
 * for the pod's network counters and a fake writable-layer walk. No root needed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as cri from "../../../src/cri/types.ts";
import { StatsCollector } from "../../../src/server/container_stats.ts";
import { listMetricDescriptors, METRICS } from "../../../src/server/metrics_descriptors.ts";
import { listPodSandboxMetrics } from "../../../src/server/metrics_list.ts";
import { addContainerRecord, addSandbox, type TestDeps, testDeps } from "./_fakes.ts";
import { v1Layout, writeTree, writeV1Cgroup } from "../cgroups/_fixtures.ts";

const S = 1_000_000_000n;

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    1296      16    1    0    0     0          0         0      936      12    2    0    0     0       0          0
`;

async function withFixture(
  fn: (deps: TestDeps & { stats: StatsCollector }, root: string) => Promise<void>,
): Promise<void> {
  const base = await testDeps();
  const root = join(base.dir, "cgroup");
  const stats = new StatsCollector({
    writableLayerUsage: () =>
      Promise.resolve([
        { containerId: "c".repeat(64), path: "/x/upper", usedBytes: 4096, inodesUsed: 3 },
      ]),
  }, {
    layout: v1Layout(root),
    now: () => 100n * S,
    procDir: join(base.dir, "proc"),
  });
  await Deno.mkdir(join(base.config.root, "containers"), { recursive: true });
  try {
    await fn(Object.assign(base, { stats }), root);
  } finally {
    await Deno.remove(base.dir, { recursive: true });
  }
}

/** "name{label=value,...}" → value, for compact assertions. */
function flatten(
  metrics: cri.MetricInit[] | undefined,
  keys: Map<string, string[]>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of metrics ?? []) {
    const k = keys.get(m.name!)!;
    const labels = k.map((key, i) => `${key}=${m.label_values![i]}`).join(",");
    out[`${m.name}{${labels}}`] = String(m.value?.value);
  }
  return out;
}

Deno.test("listMetricDescriptors() describes each metric once, with id, name and image first", async () => {
  const { descriptors = [] } = await listMetricDescriptors({}, {});
  const names = descriptors.map((d) => d.name);
  assert.equal(new Set(names).size, names.length, "names are unique");
  assert.equal(descriptors.length, Object.keys(METRICS).length);
  for (const d of descriptors) {
    assert.deepEqual(d.label_keys?.slice(0, 3), ["id", "name", "image"], String(d.name));
    assert.ok(d.help, `${d.name} has help`);
    assert.match(d.name!, /^container_[a-z_]+$/);
  }
  for (
    const expected of [
      "container_cpu_usage_seconds_total",
      "container_memory_usage_bytes",
      "container_memory_working_set_bytes",
      "container_network_receive_bytes_total",
      "container_network_transmit_bytes_total",
    ]
  ) {
    assert.ok(names.includes(expected), expected);
  }
});

Deno.test("listPodSandboxMetrics() reports pod and container metrics that match their descriptors", () =>
  withFixture(async (deps, root) => {
    const pod = await addSandbox(deps, { name: "a" });
    await addSandbox(deps, { name: "stopped", ready: false });
    const cid = "c".repeat(64);
    await addContainerRecord(deps, {
      id: cid,
      sandboxId: pod,
      name: "web",
      state: "CONTAINER_RUNNING",
    });
    await deps.containers.update(cid, (s) => ({ ...s, startedAt: String(90n * S + 5n) }));
    await writeV1Cgroup(root, "/ocid-unit", {
      cpuNs: String(10n * S + 700_000_000n),
      usage: 50_000,
      inactiveFile: 10_000,
      pids: 6,
    });
    await writeV1Cgroup(root, `/ocid-unit/ocid-${cid}`, {
      cpuNs: String(3n * S),
      usage: 9000,
      inactiveFile: 1000,
      rss: 7000,
    });
    await writeTree(deps.dir, { "proc/777/net/dev": NET_DEV });
    // The container's cAdvisor counters (cgroup v1) and its one process's open files.
    const dir = `/ocid-unit/ocid-${cid}`;
    await writeTree(root, {
      [`cpuacct${dir}/cpuacct.stat`]: "user 250\nsystem 50\n",
      [`cpu${dir}/cpu.stat`]: "nr_periods 40\nnr_throttled 4\nthrottled_time 1500000000\n",
      [`cpu${dir}/cpu.cfs_period_us`]: "100000\n",
      [`cpu${dir}/cpu.cfs_quota_us`]: "-1\n",
      [`memory${dir}/memory.soft_limit_in_bytes`]: "9223372036854771712\n",
      [`cpu${dir}/cpu.shares`]: "1024\n",
      [`memory${dir}/memory.max_usage_in_bytes`]: "12000\n",
      [`memory${dir}/memory.failcnt`]: "2\n",
      [`memory${dir}/memory.kmem.usage_in_bytes`]: "300\n",
      [`memory${dir}/memory.oom_control`]: "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
      [`pids${dir}/tasks`]: "4242\n4243\n4244\n",
      [`pids${dir}/cgroup.procs`]: "4242\n",
      [`pids${dir}/pids.max`]: "max\n",
      [`blkio${dir}/blkio.throttle.io_service_bytes_recursive`]:
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Total 12288\nTotal 12288\n",
      [`blkio${dir}/blkio.throttle.io_serviced_recursive`]: "8:0 Read 2\n8:0 Write 3\n",
    });
    await Deno.mkdir(join(deps.dir, "proc/4242/fd"), { recursive: true });
    await Deno.symlink("socket:[123]", join(deps.dir, "proc/4242/fd/3"));
    await Deno.symlink("/dev/null", join(deps.dir, "proc/4242/fd/0"));

    const { descriptors = [] } = await listMetricDescriptors({}, {});
    const keys = new Map(descriptors.map((d) => [d.name!, d.label_keys!]));
    const { pod_metrics = [] } = await listPodSandboxMetrics(deps, {});
    assert.deepEqual(pod_metrics.map((p) => p.pod_sandbox_id), [pod], "ready pods only");
    const pm = pod_metrics[0]!;

    const all = [...pm.metrics!, ...pm.container_metrics!.flatMap((c) => c.metrics!)];
    for (const m of all) {
      const k = keys.get(m.name!);
      assert.ok(k, `${m.name} has a descriptor`);
      assert.equal(m.label_values?.length, k.length, `${m.name}: one value per label key`);
      assert.equal(String(m.timestamp), "0", "gathered live");
      const type = Object.values(METRICS).find((d) => d.name === m.name)!.type;
      assert.equal(m.metric_type, type, String(m.name));
    }

    const podBase = `id=${pod},name=POD,image=`;
    assert.deepEqual(flatten(pm.metrics, keys), {
      [`container_cpu_usage_seconds_total{${podBase},cpu=total}`]: "10",
      [`container_memory_usage_bytes{${podBase}}`]: "50000",
      [`container_memory_working_set_bytes{${podBase}}`]: "40000",
      [`container_memory_rss{${podBase}}`]: "4096",
      [`container_memory_failures_total{${podBase},failure_type=pgfault,scope=hierarchy}`]: "1000",
      [`container_memory_failures_total{${podBase},failure_type=pgmajfault,scope=hierarchy}`]: "7",
      [`container_processes{${podBase}}`]: "6",
      [`container_start_time_seconds{${podBase}}`]: "0", // the fixture pod was made at 1 ns
      [`container_last_seen{${podBase}}`]: String(seen(pm.metrics)),
      [`container_network_receive_bytes_total{${podBase},interface=eth0}`]: "1296",
      [`container_network_receive_packets_total{${podBase},interface=eth0}`]: "16",
      [`container_network_receive_errors_total{${podBase},interface=eth0}`]: "1",
      [`container_network_receive_packets_dropped_total{${podBase},interface=eth0}`]: "0",
      [`container_network_transmit_bytes_total{${podBase},interface=eth0}`]: "936",
      [`container_network_transmit_packets_total{${podBase},interface=eth0}`]: "12",
      [`container_network_transmit_errors_total{${podBase},interface=eth0}`]: "2",
      [`container_network_transmit_packets_dropped_total{${podBase},interface=eth0}`]: "0",
    });
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(seen(pm.metrics) - now) <= 5, "last seen: now");

    assert.deepEqual(pm.container_metrics!.map((c) => c.container_id), [cid]);
    const base = `id=${cid},name=k8s_web_pod_ns_uid_0,image=127.0.0.1:5000/busybox:latest`;
    assert.deepEqual(flatten(pm.container_metrics![0]!.metrics, keys), {
      [`container_cpu_usage_seconds_total{${base},cpu=total}`]: "3",
      [`container_memory_usage_bytes{${base}}`]: "9000",
      [`container_memory_working_set_bytes{${base}}`]: "8000",
      [`container_memory_rss{${base}}`]: "7000",
      [`container_memory_failures_total{${base},failure_type=pgfault,scope=hierarchy}`]: "1000",
      [`container_memory_failures_total{${base},failure_type=pgmajfault,scope=hierarchy}`]: "7",
      [`container_fs_usage_bytes{${base},device=${deps.config.root}/containers}`]: "4096",
      [`container_start_time_seconds{${base}}`]: "90",
      [`container_last_seen{${base}}`]: String(seen(pm.metrics)),
      [`container_memory_swap{${base}}`]: "0", // no swap accounting in the fixture: as cAdvisor
      [`container_cpu_user_seconds_total{${base}}`]: "2.5",
      [`container_cpu_system_seconds_total{${base}}`]: "0.5",
      [`container_cpu_cfs_periods_total{${base}}`]: "40",
      [`container_cpu_cfs_throttled_periods_total{${base}}`]: "4",
      [`container_cpu_cfs_throttled_seconds_total{${base}}`]: "1.5",
      [`container_spec_cpu_period{${base}}`]: "100000",
      [`container_spec_cpu_quota{${base}}`]: "0", // -1: none
      [`container_spec_cpu_shares{${base}}`]: "1024",
      [`container_spec_memory_reservation_limit_bytes{${base}}`]: "0", // unlimited
      [`container_spec_memory_limit_bytes{${base}}`]: "0",
      [`container_spec_memory_swap_limit_bytes{${base}}`]: "0",
      [`container_memory_cache{${base}}`]: "100", // memory.stat's own "cache": no total_cache
      [`container_memory_mapped_file{${base}}`]: "0",
      [`container_memory_kernel_usage{${base}}`]: "300",
      [`container_memory_max_usage_bytes{${base}}`]: "12000",
      [`container_memory_failcnt{${base}}`]: "2",
      [`container_oom_events_total{${base}}`]: "1",
      [`container_threads{${base}}`]: "3",
      [`container_threads_max{${base}}`]: "0",
      [`container_blkio_device_usage_total{${base},device=${dev},major=8,minor=0,operation=Read}`]:
        "4096",
      [`container_blkio_device_usage_total{${base},device=${dev},major=8,minor=0,operation=Write}`]:
        "8192",
      [`container_fs_reads_bytes_total{${base},device=${dev}}`]: "4096",
      [`container_fs_reads_total{${base},device=${dev}}`]: "2",
      [`container_fs_writes_bytes_total{${base},device=${dev}}`]: "8192",
      [`container_fs_writes_total{${base},device=${dev}}`]: "3",
      [`container_file_descriptors{${base}}`]: "2",
      [`container_sockets{${base}}`]: "1",
      ...fsMetrics(
        pm.container_metrics![0]!.metrics,
        `${base},device=${deps.config.root}/containers`,
      ),
    });
  }));

/** The time `container_last_seen` gives (seconds). */
function seen(metrics: cri.MetricInit[] | undefined): number {
  return Number(metrics?.find((m) => m.name === "container_last_seen")?.value?.value);
}

/** The filesystem metrics of `metrics` (read from the machine's statfs), checked for sense. */
function fsMetrics(metrics: cri.MetricInit[] | undefined, labels: string): Record<string, string> {
  const get = (name: string) => String(metrics?.find((m) => m.name === name)?.value?.value);
  const [free, total, limit] = [
    get("container_fs_inodes_free"),
    get("container_fs_inodes_total"),
    get("container_fs_limit_bytes"),
  ];
  assert.ok(Number(total) > 0 && Number(free) <= Number(total), `inodes ${free} of ${total}`);
  assert.ok(Number(limit) > 0, `limit ${limit}`);
  return {
    [`container_fs_inodes_free{${labels}}`]: free,
    [`container_fs_inodes_total{${labels}}`]: total,
    [`container_fs_limit_bytes{${labels}}`]: limit,
  };
}

/** The name the machine gives block device 8:0, as the metrics label it. */
const dev = await Deno.readTextFile("/sys/dev/block/8:0/uevent").then(
  (t) => `/dev/${/^DEVNAME=(.+)$/m.exec(t)?.[1]}`,
  () => "",
);

Deno.test("listPodSandboxMetrics() of an exited container has no cgroup metrics", () =>
  withFixture(async (deps) => {
    const pod = await addSandbox(deps, { name: "a" });
    await addContainerRecord(deps, {
      id: "e".repeat(64),
      sandboxId: pod,
      name: "done",
      state: "CONTAINER_EXITED",
    });
    const { pod_metrics = [] } = await listPodSandboxMetrics(deps, {});
    const names = pod_metrics[0]!.container_metrics![0]!.metrics!.map((m) => m.name);
    assert.deepEqual(
      names,
      [
        "container_fs_inodes_free",
        "container_fs_inodes_total",
        "container_fs_limit_bytes",
        "container_last_seen",
      ],
      "no cgroup, no writable layer in the walk, never started: its filesystem and when seen",
    );
  }));

Deno.test("listPodSandboxMetrics() spawns no process", () =>
  withFixture(async (deps) => {
    await addSandbox(deps, { name: "a" });
    await listPodSandboxMetrics(deps, {});
    assert.deepEqual(deps.countingRunner.runs, []);
    assert.deepEqual(deps.fakeRuntime.calls, []);
  }));
