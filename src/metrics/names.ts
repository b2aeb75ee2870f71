/**
 * The metrics ocid exposes on `/metrics` besides prom-client's default process metrics: name,
 * type, labels and help. `prometheus.ts` builds them from this list; the README's table lists
 * the same names and labels (a unit test compares both).
 *
 * @module
 */

/** One metric ocid defines. */
export interface MetricSpec {
  name: string;
  type: "counter" | "gauge" | "histogram";
  labels: readonly string[];
  help: string;
}

/** Latency buckets of the RPC histogram, in seconds: 1 ms to 60 s. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** Buckets of the image pull duration histogram, in seconds. */
export const PULL_BUCKETS: readonly number[] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Every metric ocid defines. */
export const METRICS: readonly MetricSpec[] = [
  {
    name: "ocid_operations_total",
    type: "counter",
    labels: ["operation", "code"],
    help: "CRI RPCs answered, by RPC name and gRPC status code.",
  },
  {
    name: "ocid_operations_latency_seconds",
    type: "histogram",
    labels: ["operation"],
    help: "Latency of CRI RPCs, by RPC name.",
  },
  {
    name: "ocid_image_pulls_total",
    type: "counter",
    labels: [],
    help: "Image pulls that succeeded.",
  },
  {
    name: "ocid_image_pull_failures_total",
    type: "counter",
    labels: ["reason"],
    help: "Image pulls that failed, by reason (gRPC code or error class).",
  },
  {
    name: "ocid_image_pull_bytes_total",
    type: "counter",
    labels: [],
    help: "Unpacked layer bytes of the images pulled successfully.",
  },
  {
    name: "ocid_image_pull_duration_seconds",
    type: "histogram",
    labels: [],
    help: "Duration of successful image pulls.",
  },
  {
    name: "ocid_containers_oom_killed_total",
    type: "counter",
    labels: ["namespace"],
    help: "Containers killed by the OOM killer, by pod namespace.",
  },
  {
    name: "ocid_containers",
    type: "gauge",
    labels: ["state"],
    help: "Containers by CRI state.",
  },
  {
    name: "ocid_pods",
    type: "gauge",
    labels: ["state"],
    help: "Pod sandboxes by CRI state.",
  },
  {
    name: "ocid_conmon_spawn_failures_total",
    type: "counter",
    labels: [],
    help: "Container creations that failed in conmon or the runtime under it.",
  },
  {
    name: "ocid_processes_spawned_total",
    type: "counter",
    labels: ["program"],
    help: "Programs started (runtime verbs, CNI plugins, conmon, helpers), by basename.",
  },
  {
    name: "ocid_process_failures_total",
    type: "counter",
    labels: ["program"],
    help: "Programs that could not start, exited non-zero or timed out, by basename.",
  },
];

/** Default metrics of prom-client that give real values on Deno (checked on Deno 2.9). */
export const DEFAULT_METRICS: readonly string[] = [
  "process_cpu_seconds_total",
  "process_resident_memory_bytes",
  "process_virtual_memory_bytes",
  "process_heap_bytes",
  "process_open_fds",
  "process_max_fds",
  "process_start_time_seconds",
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_heap_size_used_bytes",
  "nodejs_heap_size_total_bytes",
  "nodejs_external_memory_bytes",
];
