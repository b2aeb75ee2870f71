/**
 * ListMetricDescriptors: the cAdvisor-named metrics ocid reports through ListPodSandboxMetrics
 * (the kubelet's PodAndContainerStatsFromCRI serves them on `/metrics/cadvisor`).
 *
 * Every metric's labels start with `id`, `name` and `image` (as CRI-O's): a container's ID, its
 * name (`k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`) and its image; for a pod-level
 * metric the sandbox ID, `POD` and "". The CRI asks runtimes to keep a metric's label values
 * in the order of its descriptor's `label_keys`: {@linkcode METRICS} is the one list both read.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";

/** The labels every metric starts with. */
export const BASE_LABEL_KEYS = ["id", "name", "image"] as const;

/** One metric ocid reports. */
export interface MetricDef {
  name: string;
  help: string;
  type: cri.MetricType;
  /** Label keys after {@linkcode BASE_LABEL_KEYS}. */
  extraLabels: readonly string[];
}

function def(
  name: string,
  type: cri.MetricType,
  help: string,
  extraLabels: readonly string[] = [],
): MetricDef {
  return { name, type, help, extraLabels };
}

/** Every metric ocid reports, by short key. */
export const METRICS = {
  cpuUsage: def(
    "container_cpu_usage_seconds_total",
    "COUNTER",
    "Cumulative CPU time consumed in seconds (whole seconds: the CRI value is an integer).",
    ["cpu"],
  ),
  memoryUsage: def(
    "container_memory_usage_bytes",
    "GAUGE",
    "Current memory usage in bytes, including all memory regardless of when it was accessed.",
  ),
  memoryWorkingSet: def(
    "container_memory_working_set_bytes",
    "GAUGE",
    "Current working set in bytes.",
  ),
  memoryRss: def("container_memory_rss", "GAUGE", "Size of RSS in bytes."),
  memorySwap: def("container_memory_swap", "GAUGE", "Container swap usage in bytes."),
  memoryFailures: def(
    "container_memory_failures_total",
    "COUNTER",
    "Cumulative count of memory allocation failures.",
    ["failure_type", "scope"],
  ),
  processes: def(
    "container_processes",
    "GAUGE",
    "Number of processes (tasks) running inside the container.",
  ),
  fsUsage: def(
    "container_fs_usage_bytes",
    "GAUGE",
    "Number of bytes that are consumed by the container on this filesystem.",
    ["device"],
  ),
  startTime: def(
    "container_start_time_seconds",
    "GAUGE",
    "Start time of the container since unix epoch in seconds.",
  ),
  networkReceiveBytes: def(
    "container_network_receive_bytes_total",
    "COUNTER",
    "Cumulative count of bytes received.",
    ["interface"],
  ),
  networkReceiveErrors: def(
    "container_network_receive_errors_total",
    "COUNTER",
    "Cumulative count of errors encountered while receiving.",
    ["interface"],
  ),
  networkTransmitBytes: def(
    "container_network_transmit_bytes_total",
    "COUNTER",
    "Cumulative count of bytes transmitted.",
    ["interface"],
  ),
  networkTransmitErrors: def(
    "container_network_transmit_errors_total",
    "COUNTER",
    "Cumulative count of errors encountered while transmitting.",
    ["interface"],
  ),
} as const satisfies Record<string, MetricDef>;

/** The CRI descriptor of a metric. */
export function toDescriptor(m: MetricDef): cri.MetricDescriptorInit {
  return { name: m.name, help: m.help, label_keys: [...BASE_LABEL_KEYS, ...m.extraLabels] };
}

/** Answers ListMetricDescriptors. */
export function listMetricDescriptors(
  _deps: unknown,
  _req: cri.ListMetricDescriptorsRequest,
): Promise<cri.ListMetricDescriptorsResponseInit> {
  return Promise.resolve({ descriptors: Object.values(METRICS).map(toDescriptor) });
}
