/**
 * ListPodSandboxMetrics: the metrics of {@linkcode METRICS} for every ready pod and its
 * containers, read live (timestamp 0, as the CRI asks for values not cached) from what the
 * stats RPCs read: cgroup files, the pod's network counters (`net/dev` of a process in its
 * netns, or read inside its pinned netns file) and the cached writable-layer walk. No process
 * is spawned.
 *
 * Pod-level metrics (`PodSandboxMetrics.metrics`) are the pod cgroup's CPU, memory and process
 * count, its network counters per interface (loopback left out) and its creation time; each
 * container's are its cgroup's CPU and memory, its writable layer and its start time. A value
 * the kernel does not offer (no swap accounting) is left out rather than reported as 0.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { ContainerRecord } from "../store/container.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import { imageName } from "./container_status.ts";
import type { Deps } from "./deps.ts";
import { type MetricDef, METRICS } from "./metrics_descriptors.ts";
import { type PodSandboxStatsDeps, sandboxStatsOf } from "./sandbox_stats.ts";

/** What ListPodSandboxMetrics uses. */
export type ListPodSandboxMetricsDeps = PodSandboxStatsDeps & Pick<Deps, "images">;

/** Answers ListPodSandboxMetrics. */
export async function listPodSandboxMetrics(
  deps: ListPodSandboxMetricsDeps,
  _req: cri.ListPodSandboxMetricsRequest,
): Promise<cri.ListPodSandboxMetricsResponseInit> {
  const ready = deps.sandboxes.list().filter((s) => s.status.state === "SANDBOX_READY");
  return { pod_metrics: await Promise.all(ready.map((s) => sandboxMetricsOf(deps, s))) };
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
): Promise<cri.PodSandboxMetricsInit> {
  const stats = await sandboxStatsOf(deps, sandbox);
  const linux = stats.linux ?? {};
  const pod = new MetricList([sandbox.id, "POD", ""]);
  addCpuAndMemory(pod, linux.cpu, linux.memory);
  pod.add(METRICS.processes, v(linux.process?.process_count));
  pod.add(METRICS.startTime, seconds(sandbox.metadata.createdAt));
  for (const i of linux.network?.interfaces ?? []) {
    const name = i.name ?? "";
    pod.add(METRICS.networkReceiveBytes, v(i.rx_bytes), [name]);
    pod.add(METRICS.networkReceiveErrors, v(i.rx_errors), [name]);
    pod.add(METRICS.networkTransmitBytes, v(i.tx_bytes), [name]);
    pod.add(METRICS.networkTransmitErrors, v(i.tx_errors), [name]);
  }
  const records = new Map(
    deps.containers.list()
      .filter((c) => c.metadata.sandboxId === sandbox.id)
      .map((c) => [c.id, c]),
  );
  const containerMetrics: cri.ContainerMetricsInit[] = [];
  for (const cs of linux.containers ?? []) {
    const record = records.get(cs.attributes?.id ?? "");
    if (record) containerMetrics.push(containerMetricsOf(deps, record, cs));
  }
  return {
    pod_sandbox_id: sandbox.id,
    metrics: pod.metrics,
    container_metrics: containerMetrics,
  };
}

function containerMetricsOf(
  deps: Pick<Deps, "images">,
  record: ContainerRecord,
  stats: cri.ContainerStatsInit,
): cri.ContainerMetricsInit {
  const list = new MetricList([record.id, record.name, imageName(deps, record.metadata)]);
  addCpuAndMemory(list, stats.cpu, stats.memory);
  list.add(METRICS.memorySwap, v(stats.swap?.swap_usage_bytes));
  const layer = stats.writable_layer;
  if (layer) list.add(METRICS.fsUsage, v(layer.used_bytes), [layer.fs_id?.mountpoint ?? ""]);
  list.add(METRICS.startTime, seconds(record.status.startedAt));
  return { container_id: record.id, metrics: list.metrics };
}
