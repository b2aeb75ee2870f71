/**
 * The metrics on prom-client: a registry holding {@linkcode METRICS} and prom-client's default
 * process metrics, a {@linkcode MetricsRecorder} that updates them, and state gauges computed
 * at scrape time from a snapshot function. Imported dynamically, only when metrics are on, so an
 * idle daemon without metrics does not load prom-client.
 *
 * @module
 */
import * as client from "prom-client";
import { LATENCY_BUCKETS, METRICS, type MetricSpec, PULL_BUCKETS } from "./names.ts";
import type { MetricsRecorder } from "./recorder.ts";

/** Counts by state, read at each scrape. */
export interface StateSnapshot {
  /** Container counts by CRI state (`CONTAINER_RUNNING`, ...). */
  containers: Record<string, number>;
  /** Pod sandbox counts by CRI state (`SANDBOX_READY`, ...). */
  pods: Record<string, number>;
}

/** Options of {@linkcode createPrometheusMetrics}. */
export interface PrometheusOptions {
  /** Called at each scrape for the state gauges. */
  snapshot(): StateSnapshot;
  /** Also collect prom-client's default process metrics. @default true */
  defaultMetrics?: boolean;
}

/** A registry and the recorder that feeds it. */
export interface PrometheusMetrics {
  registry: client.Registry;
  recorder: MetricsRecorder;
  /** The exposition text of every metric. */
  scrape(): Promise<string>;
  /** The Content-Type of {@linkcode scrape}'s text. */
  contentType: string;
}

function spec(name: string): MetricSpec {
  const found = METRICS.find((m) => m.name === name);
  if (!found) throw new Error(`Metric "${name}" is not in METRICS`);
  return found;
}

function counter(registry: client.Registry, name: string): client.Counter<string> {
  const s = spec(name);
  return new client.Counter({
    name,
    help: s.help,
    labelNames: [...s.labels],
    registers: [registry],
  });
}

function histogram(
  registry: client.Registry,
  name: string,
  buckets: readonly number[],
): client.Histogram<string> {
  const s = spec(name);
  return new client.Histogram({
    name,
    help: s.help,
    labelNames: [...s.labels],
    buckets: [...buckets],
    registers: [registry],
  });
}

function stateGauge(
  registry: client.Registry,
  name: string,
  read: () => Record<string, number>,
): void {
  const s = spec(name);
  new client.Gauge({
    name,
    help: s.help,
    labelNames: [...s.labels],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, count] of Object.entries(read())) this.set({ state }, count);
    },
  });
}

/**
 * Builds the registry with every metric of {@linkcode METRICS}.
 *
 * @param options the state snapshot for the gauges
 * @returns the registry, a recorder feeding it, and a scrape function
 */
export function createPrometheusMetrics(options: PrometheusOptions): PrometheusMetrics {
  const registry = new client.Registry();
  if (options.defaultMetrics ?? true) client.collectDefaultMetrics({ register: registry });
  const operations = counter(registry, "ocid_operations_total");
  const latency = histogram(registry, "ocid_operations_latency_seconds", LATENCY_BUCKETS);
  const pulls = counter(registry, "ocid_image_pulls_total");
  const pullFailures = counter(registry, "ocid_image_pull_failures_total");
  const pullBytes = counter(registry, "ocid_image_pull_bytes_total");
  const pullDuration = histogram(registry, "ocid_image_pull_duration_seconds", PULL_BUCKETS);
  const oom = counter(registry, "ocid_containers_oom_killed_total");
  const conmonFailures = counter(registry, "ocid_conmon_spawn_failures_total");
  const spawned = counter(registry, "ocid_processes_spawned_total");
  const failed = counter(registry, "ocid_process_failures_total");
  stateGauge(registry, "ocid_containers", () => options.snapshot().containers);
  stateGauge(registry, "ocid_pods", () => options.snapshot().pods);
  // Counters without labels appear at 0 from the start, so a rate() has a first sample.
  for (const c of [pulls, pullBytes, conmonFailures]) c.inc(0);

  const recorder: MetricsRecorder = {
    rpc(method, code, seconds) {
      operations.inc({ operation: method, code });
      latency.observe({ operation: method }, seconds);
    },
    stream(method, code) {
      operations.inc({ operation: method, code });
    },
    imagePull(outcome) {
      if (outcome.ok) {
        pulls.inc();
        pullBytes.inc(outcome.bytes);
        pullDuration.observe(outcome.seconds);
      } else {
        pullFailures.inc({ reason: outcome.reason });
      }
    },
    oomKilled: (namespace) => oom.inc({ namespace }),
    processSpawned: (program) => spawned.inc({ program }),
    processFailed: (program) => failed.inc({ program }),
    conmonSpawnFailed: () => conmonFailures.inc(),
  };
  return {
    registry,
    recorder,
    scrape: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
