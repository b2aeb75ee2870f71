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
  networkReceivePackets: def(
    "container_network_receive_packets_total",
    "COUNTER",
    "Cumulative count of packets received.",
    ["interface"],
  ),
  networkReceiveDropped: def(
    "container_network_receive_packets_dropped_total",
    "COUNTER",
    "Cumulative count of packets dropped while receiving.",
    ["interface"],
  ),
  networkTransmitPackets: def(
    "container_network_transmit_packets_total",
    "COUNTER",
    "Cumulative count of packets transmitted.",
    ["interface"],
  ),
  networkTransmitDropped: def(
    "container_network_transmit_packets_dropped_total",
    "COUNTER",
    "Cumulative count of packets dropped while transmitting.",
    ["interface"],
  ),
  cpuUser: def(
    "container_cpu_user_seconds_total",
    "COUNTER",
    "Cumulative user CPU time consumed in seconds.",
  ),
  cpuSystem: def(
    "container_cpu_system_seconds_total",
    "COUNTER",
    "Cumulative system CPU time consumed in seconds.",
  ),
  cfsPeriods: def(
    "container_cpu_cfs_periods_total",
    "COUNTER",
    "Number of elapsed enforcement period intervals.",
  ),
  cfsThrottledPeriods: def(
    "container_cpu_cfs_throttled_periods_total",
    "COUNTER",
    "Number of throttled period intervals.",
  ),
  cfsThrottledSeconds: def(
    "container_cpu_cfs_throttled_seconds_total",
    "COUNTER",
    "Total time duration the container has been throttled.",
  ),
  specCpuPeriod: def("container_spec_cpu_period", "GAUGE", "CPU period of the container."),
  specCpuQuota: def("container_spec_cpu_quota", "GAUGE", "CPU quota of the container (0: none)."),
  specCpuShares: def("container_spec_cpu_shares", "GAUGE", "CPU share of the container."),
  specMemoryReservation: def(
    "container_spec_memory_reservation_limit_bytes",
    "GAUGE",
    "Memory reservation limit for the container (0: none).",
  ),
  specMemoryLimit: def(
    "container_spec_memory_limit_bytes",
    "GAUGE",
    "Memory limit for the container (0: none).",
  ),
  specMemorySwapLimit: def(
    "container_spec_memory_swap_limit_bytes",
    "GAUGE",
    "Memory swap limit for the container (0: none).",
  ),
  memoryCache: def("container_memory_cache", "GAUGE", "Number of bytes of page cache memory."),
  memoryMappedFile: def(
    "container_memory_mapped_file",
    "GAUGE",
    "Size of memory mapped files in bytes.",
  ),
  memoryKernel: def(
    "container_memory_kernel_usage",
    "GAUGE",
    "Size of kernel memory allocated in bytes.",
  ),
  memoryMaxUsage: def(
    "container_memory_max_usage_bytes",
    "GAUGE",
    "Maximum memory usage recorded in bytes.",
  ),
  memoryFailcnt: def(
    "container_memory_failcnt",
    "COUNTER",
    "Number of memory usage hits limits.",
  ),
  oomEvents: def(
    "container_oom_events_total",
    "COUNTER",
    "Count of out of memory events observed for the container.",
  ),
  threads: def("container_threads", "GAUGE", "Number of threads running inside the container."),
  threadsMax: def(
    "container_threads_max",
    "GAUGE",
    "Maximum number of threads allowed inside the container (0: no limit).",
  ),
  fileDescriptors: def(
    "container_file_descriptors",
    "GAUGE",
    "Number of open file descriptors for the container.",
  ),
  sockets: def("container_sockets", "GAUGE", "Number of open sockets for the container."),
  blkioDeviceUsage: def(
    "container_blkio_device_usage_total",
    "COUNTER",
    "Blkio device bytes usage.",
    ["device", "major", "minor", "operation"],
  ),
  fsReadsBytes: def(
    "container_fs_reads_bytes_total",
    "COUNTER",
    "Cumulative count of bytes read.",
    ["device"],
  ),
  fsReads: def(
    "container_fs_reads_total",
    "COUNTER",
    "Cumulative count of reads completed.",
    ["device"],
  ),
  fsWritesBytes: def(
    "container_fs_writes_bytes_total",
    "COUNTER",
    "Cumulative count of bytes written.",
    ["device"],
  ),
  fsWrites: def(
    "container_fs_writes_total",
    "COUNTER",
    "Cumulative count of writes completed.",
    ["device"],
  ),
  fsInodesFree: def(
    "container_fs_inodes_free",
    "GAUGE",
    "Number of available inodes on the container's filesystem.",
    ["device"],
  ),
  fsInodesTotal: def(
    "container_fs_inodes_total",
    "GAUGE",
    "Number of inodes on the container's filesystem.",
    ["device"],
  ),
  fsLimit: def(
    "container_fs_limit_bytes",
    "GAUGE",
    "Number of bytes that can be consumed by the container on this filesystem.",
    ["device"],
  ),
  lastSeen: def(
    "container_last_seen",
    "GAUGE",
    "Last time the container was seen by the runtime, in seconds since the epoch.",
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
