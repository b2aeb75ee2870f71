/**
 * ListPodSandboxMetrics: the metrics of {@linkcode METRICS} for every ready pod and its
 * containers, read live (timestamp 0, as the CRI asks for values not cached) from what the
 * stats RPCs read: cgroup files, the pod's network counters (`net/dev` of a process in its
 * netns, or read inside its pinned netns file) and the cached writable-layer walk. No process
 * is spawned.
 *
 * Pod-level metrics (`PodSandboxMetrics.metrics`) are the pod cgroup's CPU, memory and process
 * count, its network counters per interface (loopback left out), its creation time and when it
 * was seen. Each running container's are its cgroup's (CPU by mode and CFS throttling, memory
 * with cache, mapped files, kernel memory, peak, limit hits and OOM kills, the limits it runs
 * under, threads and their limit, block I/O per device), its processes' open files and
 * sockets, its writable layer and the filesystem holding it, its start time and when it was
 * seen: the set critest's "runtime should support listing pod sandbox metrics" asks for (the
 * kubelet's cAdvisor-on-CRI metrics). Where the kernel keeps no such counter (no swap
 * accounting, no `memory.peak`), the value is 0, as cAdvisor reports it; an exited container
 * has its writable layer and start time only.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { ContainerRecord } from "../store/container.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import { imageName } from "./container_status.ts";
import type { Deps } from "./deps.ts";
import { type MetricDef, METRICS } from "./metrics_descriptors.ts";
import { podNetDev, type PodSandboxStatsDeps, sandboxStatsOf } from "./sandbox_stats.ts";
import { containerCgroupDir } from "./container_stats.ts";
import type { CadvisorCounters } from "../cgroups/cadvisor.ts";
import { statfs } from "node:fs/promises";

/** What ListPodSandboxMetrics uses. */
export type ListPodSandboxMetricsDeps = PodSandboxStatsDeps & Pick<Deps, "images">;

/** Answers ListPodSandboxMetrics. */
export async function listPodSandboxMetrics(
  deps: ListPodSandboxMetricsDeps,
  _req: cri.ListPodSandboxMetricsRequest,
): Promise<cri.ListPodSandboxMetricsResponseInit> {
  const ready = deps.sandboxes.list().filter((s) => s.status.state === "SANDBOX_READY");
  const shared = { fs: await containersFs(deps), seen: Math.floor(Date.now() / 1000) };
  return { pod_metrics: await Promise.all(ready.map((s) => sandboxMetricsOf(deps, s, shared))) };
}

/** What every pod's metrics share: the containers' filesystem and the time they were read. */
interface Shared {
  fs: { device: string; inodesFree: number; inodesTotal: number; limitBytes: number } | undefined;
  /** Seconds since the epoch. */
  seen: number;
}

/** The filesystem holding the writable layers (`<root>/containers`), by statfs(2). */
async function containersFs(deps: Pick<Deps, "config">): Promise<Shared["fs"]> {
  const mountpoint = `${deps.config.root}/containers`;
  try {
    const s = await statfs(mountpoint);
    return {
      device: mountpoint,
      inodesFree: s.ffree,
      inodesTotal: s.files,
      limitBytes: s.blocks * s.bsize,
    };
  } catch {
    return undefined;
  }
}

/** Builds metrics with one set of base label values. */
class MetricList {
  readonly metrics: cri.MetricInit[] = [];
  #base: readonly string[];

  constructor(base: readonly [string, string, string]) {
    this.#base = base;
  }

  /**
   * Adds `metric` with `value` (a decimal string or number; absent -> nothing added).
   *
   * @param extra Label values in the order of `metric.extraLabels`.
   */
  add(metric: MetricDef, value: string | number | bigint | undefined, extra: string[] = []) {
    if (value === undefined) return;
    if (extra.length !== metric.extraLabels.length) {
      throw new Error(
        `Metric "${metric.name}" takes ${metric.extraLabels.length} extra label values, ` +
          `got ${extra.length}`,
      );
    }
    this.metrics.push({
      name: metric.name,
      timestamp: "0",
      metric_type: metric.type,
      label_values: [...this.#base, ...extra],
      value: { value: value.toString() },
    });
  }
}

type U64 = cri.UInt64ValueInit | null | undefined;
const v = (u: U64) => (u?.value === undefined ? undefined : String(u.value));
/** Whole seconds of a duration or time in ns ("0" and absent give undefined). */
function seconds(ns: U64 | string): string | undefined {
  const value = typeof ns === "string" ? ns : v(ns);
  if (value === undefined || value === "0") return undefined;
  return (BigInt(value) / 1_000_000_000n).toString();
}

function addCpuAndMemory(
  list: MetricList,
  cpu: cri.CpuUsageInit | null | undefined,
  memory: cri.MemoryUsageInit | null | undefined,
): void {
  if (cpu) {
    const ns = v(cpu.usage_core_nano_seconds);
    if (ns !== undefined) {
      list.add(METRICS.cpuUsage, (BigInt(ns) / 1_000_000_000n).toString(), ["total"]);
    }
  }
  if (memory) {
    list.add(METRICS.memoryUsage, v(memory.usage_bytes));
    list.add(METRICS.memoryWorkingSet, v(memory.working_set_bytes));
    list.add(METRICS.memoryRss, v(memory.rss_bytes));
    list.add(METRICS.memoryFailures, v(memory.page_faults), ["pgfault", "hierarchy"]);
    list.add(METRICS.memoryFailures, v(memory.major_page_faults), ["pgmajfault", "hierarchy"]);
  }
}

/** The metrics of one pod and its containers. */
export async function sandboxMetricsOf(
  deps: ListPodSandboxMetricsDeps,
  sandbox: SandboxRecord,
  shared: Shared,
): Promise<cri.PodSandboxMetricsInit> {
  // One read of the pod's interface counters serves the stats and the packet counts.
  const netDev = podNetDev(deps, sandbox);
  const [stats, interfaces] = await Promise.all([sandboxStatsOf(deps, sandbox, netDev), netDev]);
  const linux = stats.linux ?? {};
  const pod = new MetricList([sandbox.id, "POD", ""]);
  addCpuAndMemory(pod, linux.cpu, linux.memory);
  pod.add(METRICS.processes, v(linux.process?.process_count));
  pod.add(METRICS.startTime, seconds(sandbox.metadata.createdAt));
  pod.add(METRICS.lastSeen, shared.seen);
  for (const i of interfaces ?? []) {
    pod.add(METRICS.networkReceiveBytes, i.rxBytes, [i.name]);
    pod.add(METRICS.networkReceivePackets, i.rxPackets, [i.name]);
    pod.add(METRICS.networkReceiveErrors, i.rxErrors, [i.name]);
    pod.add(METRICS.networkReceiveDropped, i.rxDropped, [i.name]);
    pod.add(METRICS.networkTransmitBytes, i.txBytes, [i.name]);
    pod.add(METRICS.networkTransmitPackets, i.txPackets, [i.name]);
    pod.add(METRICS.networkTransmitErrors, i.txErrors, [i.name]);
    pod.add(METRICS.networkTransmitDropped, i.txDropped, [i.name]);
  }
  const records = new Map(
    deps.containers.list()
      .filter((c) => c.metadata.sandboxId === sandbox.id)
      .map((c) => [c.id, c]),
  );
  const containerMetrics = await Promise.all(
    (linux.containers ?? []).flatMap((cs) => {
      const record = records.get(cs.attributes?.id ?? "");
      return record ? [containerMetricsOf(deps, record, cs, shared)] : [];
    }),
  );
  return {
    pod_sandbox_id: sandbox.id,
    metrics: pod.metrics,
    container_metrics: containerMetrics,
  };
}

async function containerMetricsOf(
  deps: ListPodSandboxMetricsDeps,
  record: ContainerRecord,
  stats: cri.ContainerStatsInit,
  shared: Shared,
): Promise<cri.ContainerMetricsInit> {
  const list = new MetricList([record.id, record.name, imageName(deps, record.metadata)]);
  addCpuAndMemory(list, stats.cpu, stats.memory);
  const layer = stats.writable_layer;
  if (layer) list.add(METRICS.fsUsage, v(layer.used_bytes), [layer.fs_id?.mountpoint ?? ""]);
  if (shared.fs) {
    const device = [shared.fs.device];
    list.add(METRICS.fsInodesFree, shared.fs.inodesFree, device);
    list.add(METRICS.fsInodesTotal, shared.fs.inodesTotal, device);
    list.add(METRICS.fsLimit, shared.fs.limitBytes, device);
  }
  list.add(METRICS.startTime, seconds(record.status.startedAt));
  list.add(METRICS.lastSeen, shared.seen);
  if (record.status.state !== "CONTAINER_EXITED" && stats.memory) {
    list.add(METRICS.memorySwap, v(stats.swap?.swap_usage_bytes) ?? 0);
    await addCgroupCounters(
      deps,
      list,
      await deps.stats.cadvisor(await containerCgroupDir(deps, record)),
    );
  }
  return { container_id: record.id, metrics: list.metrics };
}

/** The cAdvisor counters of a running container's cgroup, and its processes' open files. */
async function addCgroupCounters(
  deps: ListPodSandboxMetricsDeps,
  list: MetricList,
  c: CadvisorCounters,
): Promise<void> {
  if (c.cpu) {
    list.add(METRICS.cpuUser, c.cpu.userSeconds);
    list.add(METRICS.cpuSystem, c.cpu.systemSeconds);
    list.add(METRICS.cfsPeriods, c.cpu.periods);
    list.add(METRICS.cfsThrottledPeriods, c.cpu.throttledPeriods);
    list.add(METRICS.cfsThrottledSeconds, c.cpu.throttledSeconds);
  }
  if (c.spec) {
    list.add(METRICS.specCpuPeriod, c.spec.cpuPeriod);
    list.add(METRICS.specCpuQuota, c.spec.cpuQuota);
    list.add(METRICS.specCpuShares, c.spec.cpuShares);
    list.add(METRICS.specMemoryLimit, c.spec.memoryLimit);
    list.add(METRICS.specMemoryReservation, c.spec.memoryReservation);
    list.add(METRICS.specMemorySwapLimit, c.spec.memorySwapLimit);
  }
  if (c.memory) {
    list.add(METRICS.memoryCache, c.memory.cache);
    list.add(METRICS.memoryMappedFile, c.memory.mappedFile);
    list.add(METRICS.memoryKernel, c.memory.kernel);
    list.add(METRICS.memoryMaxUsage, c.memory.maxUsage);
    list.add(METRICS.memoryFailcnt, c.memory.failcnt);
    list.add(METRICS.oomEvents, c.memory.oomKills);
  }
  if (c.threads) {
    list.add(METRICS.threads, c.threads.current);
    list.add(METRICS.threadsMax, c.threads.max);
  }
  for (const io of c.blockIo ?? []) {
    const device = await blockDeviceName(io.major, io.minor);
    const numbers = [String(io.major), String(io.minor)];
    list.add(METRICS.blkioDeviceUsage, io.readBytes, [device, ...numbers, "Read"]);
    list.add(METRICS.blkioDeviceUsage, io.writeBytes, [device, ...numbers, "Write"]);
    list.add(METRICS.fsReadsBytes, io.readBytes, [device]);
    list.add(METRICS.fsReads, io.reads, [device]);
    list.add(METRICS.fsWritesBytes, io.writeBytes, [device]);
    list.add(METRICS.fsWrites, io.writes, [device]);
  }
  if (c.pids) {
    const files = await deps.stats.openFiles(c.pids);
    list.add(METRICS.fileDescriptors, files.fds);
    list.add(METRICS.sockets, files.sockets);
  }
}

const deviceNames = new Map<string, string>();

/** `/dev/<name>` of a block device (its sysfs `uevent`), "" when it has none. */
async function blockDeviceName(major: number, minor: number): Promise<string> {
  const key = `${major}:${minor}`;
  const known = deviceNames.get(key);
  if (known !== undefined) return known;
  const uevent = await Deno.readTextFile(`/sys/dev/block/${key}/uevent`).catch(() => "");
  const name = /^DEVNAME=(.+)$/m.exec(uevent)?.[1];
  const device = name ? `/dev/${name}` : "";
  deviceNames.set(key, device);
  return device;
}
