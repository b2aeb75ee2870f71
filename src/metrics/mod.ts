/**
 * Prometheus metrics: the {@linkcode MetricsRecorder} the daemon reports to, and
 * {@linkcode startMetrics}, which loads prom-client and serves `/metrics` only when
 * `metrics_port` is not 0.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { StateSnapshot } from "./prometheus.ts";
import { type MetricsRecorder, noMetrics } from "./recorder.ts";

export {
  type MetricsRecorder,
  noMetrics,
  pullFailureReason,
  type PullOutcome,
} from "./recorder.ts";
export { countingRunner, countingSpawnConmon } from "./runner.ts";
export { DEFAULT_METRICS, LATENCY_BUCKETS, METRICS, type MetricSpec } from "./names.ts";
export type { StateSnapshot } from "./prometheus.ts";

/** The daemon's metrics: a recorder, and the endpoint when on. */
export interface Metrics {
  recorder: MetricsRecorder;
  /** Where `/metrics` is served; absent when metrics are off. */
  endpoint?: { address: string; port: number };
  close(): Promise<void>;
}

/** Options of {@linkcode startMetrics}. */
export interface StartMetricsOptions {
  address: string;
  /** 0: metrics off. */
  port: number;
  snapshot(): StateSnapshot;
  log: Logger;
}

/**
 * Starts the metrics endpoint when `port` is not 0; else returns {@linkcode noMetrics} without
 * loading prom-client.
 *
 * @throws {Error} when the endpoint cannot listen
 */
export async function startMetrics(options: StartMetricsOptions): Promise<Metrics> {
  if (options.port === 0) return { recorder: noMetrics, close: () => Promise.resolve() };
  const { createPrometheusMetrics } = await import("./prometheus.ts");
  const { startMetricsServer } = await import("./server.ts");
  const metrics = createPrometheusMetrics({ snapshot: options.snapshot });
  const server = await startMetricsServer(metrics, {
    address: options.address,
    port: options.port,
  }).catch((err: Error) => {
    metrics.registry.clear();
    throw new Error(
      `Cannot serve metrics on ${options.address}:${options.port}: ${err.message}`,
      { cause: err },
    );
  });
  options.log.info("Serving metrics", { address: server.address, port: server.port });
  return {
    recorder: metrics.recorder,
    endpoint: { address: server.address, port: server.port },
    async close() {
      await server.close();
      metrics.registry.clear();
    },
  };
}

/** Counts records by their state, every known state present (0 when none). */
export function countByState(
  states: Iterable<string>,
  known: readonly string[],
): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(known.map((s) => [s, 0]));
  for (const s of states) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}
