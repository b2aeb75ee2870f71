/**
 * What the daemon reports to its metrics, as one small interface: the RPC wrapper, the process
 * runner, conmon spawns, image pulls and exits call it. {@linkcode noMetrics} does nothing (the
 * default, when `metrics_port` is 0); `prometheus.ts` implements it on prom-client and is only
 * imported when metrics are on.
 *
 * @module
 */

/** The outcome of one image pull. */
export type PullOutcome =
  | { ok: true; seconds: number; bytes: number }
  | { ok: false; seconds: number; reason: string };

/** Receives the daemon's events that metrics count. */
export interface MetricsRecorder {
  /** One finished RPC: its name, its gRPC code name ("OK", "NOT_FOUND", ...), its latency. */
  rpc(method: string, code: string, seconds: number): void;
  /**
   * One finished server stream (GetContainerEvents): its name and gRPC code name ("OK",
   * "CANCELLED", ...). Counted with the RPCs; no latency, as a stream lasts as long as its
   * client keeps it open.
   */
  stream(method: string, code: string): void;
  /** One finished PullImage. */
  imagePull(outcome: PullOutcome): void;
  /** A container was OOM-killed; `namespace` is its pod's namespace. */
  oomKilled(namespace: string): void;
  /** A program was started (`program` is its basename). */
  processSpawned(program: string): void;
  /** A program could not be started, exited non-zero or timed out. */
  processFailed(program: string): void;
  /** conmon could not create a container (conmon or the runtime under it failed). */
  conmonSpawnFailed(): void;
}

/** A recorder that records nothing. */
export const noMetrics: MetricsRecorder = {
  rpc() {},
  stream() {},
  imagePull() {},
  oomKilled() {},
  processSpawned() {},
  processFailed() {},
  conmonSpawnFailed() {},
};

/**
 * Classifies a pull failure for the `reason` label: the kubelet's reason an UNKNOWN status
 * begins with (`RegistryUnavailable`, `SignatureValidationFailed`), else the gRPC code of a
 * domain error (`NOT_FOUND`, `UNAUTHENTICATED`, ...), `CANCELLED` for an abort, else the
 * error's class name.
 *
 * @param err what the pull threw
 * @returns a short label value from a small set
 */
export function pullFailureReason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    const reason = code === "UNKNOWN" ? /^([A-Za-z]+): /.exec(err.message)?.[1] : undefined;
    if (reason !== undefined) return reason;
    if (typeof code === "string" && /^[A-Z_]+$/.test(code)) return code;
    if (err.name === "AbortError" || err.name === "TimeoutError") return "CANCELLED";
    return err.name || "Error";
  }
  return "Error";
}
