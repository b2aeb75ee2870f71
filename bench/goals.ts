/**
 * The goals issue 10 sets for one benchmark run, read from its report: each figure as this run
 * measured it, against its limit. The printed report ends with them, so a run shows by itself
 * which goals it meets; ratios come from the one run (ocid, containerd and the floor
 * interleaved), as the issue asks.
 *
 * @module
 */
import type { BenchReport } from "./report.ts";
import type { TargetResult } from "./scenario.ts";
import { ratio } from "./stats.ts";

/** One goal as a run measured it. */
export interface GoalResult {
  /** What is measured, e.g. "RunPodSandbox p50, ocid/containerd". */
  goal: string;
  /** The measured figure; undefined when the run lacks a target or phase it needs. */
  value: number | undefined;
  /** How the figure must compare with the limit. */
  op: "<=" | ">=" | "==";
  /** The limit. */
  limit: number;
  /** Whether the figure meets the limit; undefined when it was not measured. */
  met: boolean | undefined;
}

type Measured = TargetResult & { latency: BenchReport["targets"][number]["latency"] };

const MIB = 1048576;

/**
 * Issue 10's goals, measured in `report`.
 *
 * @param report A benchmark run's report (targets named `ocid`, `containerd`, `floor`).
 * @returns One entry per goal, in the issue's order.
 */
export function goals(report: BenchReport): GoalResult[] {
  const byName = new Map<string, Measured>(report.targets.map((t) => [t.name, t]));
  const ocid = byName.get("ocid");
  const ctrd = byName.get("containerd");
  const floor = byName.get("floor");
  const p50 = (t: Measured | undefined, op: string) => t?.latency[op]?.p50;
  const against = (peer: Measured | undefined, op: string) => ratio(p50(ocid, op), p50(peer, op));
  const memory = (t: Measured | undefined) =>
    t?.loadedRssBytes === undefined || t.monitorsRssBytes === undefined
      ? undefined
      : t.loadedRssBytes + t.monitorsRssBytes;
  const pods = report.scenario.loadedPods;
  const concurrency = Math.max(...report.scenario.concurrency);
  const pps = (t: Measured | undefined) => t?.podsPerSecond[String(concurrency)];
  const rows: Array<Omit<GoalResult, "met">> = [
    {
      goal: "RunPodSandbox p50, ocid/containerd",
      value: against(ctrd, "RunPodSandbox"),
      op: "<=",
      limit: 0.3,
    },
    {
      goal: "StopPodSandbox p50, ocid/containerd",
      value: against(ctrd, "StopPodSandbox"),
      op: "<=",
      limit: 0.4,
    },
    {
      goal: "RemovePodSandbox p50, ocid/containerd",
      value: against(ctrd, "RemovePodSandbox"),
      op: "<=",
      limit: 0.6,
    },
    {
      goal: `pods/s at concurrency ${concurrency}, ocid/containerd`,
      value: ratio(pps(ocid), pps(ctrd)),
      op: ">=",
      limit: 2,
    },
    // One container per pod: one monitor per container is one per pod.
    {
      goal: `monitor processes, ${pods} one-container pods`,
      value: ocid?.monitorCount,
      op: "==",
      limit: pods,
    },
    {
      goal: "Create+Start p50, ocid/containerd",
      value: against(ctrd, "Create+Start"),
      op: "<=",
      limit: 0.6,
    },
    {
      goal: "Create+Start p50, ocid/floor",
      value: against(floor, "Create+Start"),
      op: "<=",
      limit: 1.3,
    },
    { goal: "ExecSync p50, ocid/floor", value: against(floor, "ExecSync"), op: "<=", limit: 1.2 },
    {
      goal: `daemon + monitors RSS, ${pods} pods, ocid/containerd`,
      value: ratio(memory(ocid), memory(ctrd)),
      op: "<=",
      limit: 0.35,
    },
    {
      goal: "idle daemon RSS MiB",
      value: ocid?.idleRssBytes === undefined ? undefined : ocid.idleRssBytes / MIB,
      op: "<=",
      limit: 75,
    },
  ];
  return rows.map((r) => ({ ...r, met: r.value === undefined ? undefined : meets(r) }));
}

function meets(r: Omit<GoalResult, "met">): boolean {
  const v = r.value!;
  return r.op === "==" ? v === r.limit : r.op === "<=" ? v <= r.limit : v >= r.limit;
}

/**
 * The goals as text lines: figure, measured value, limit, and `met`, `MISSED` or `not measured`.
 *
 * @param report A benchmark run's report.
 * @returns The section printed after the report's table.
 */
export function formatGoals(report: BenchReport): string {
  const rows = goals(report).map((g) => [
    g.goal,
    g.value === undefined ? "-" : Number.isInteger(g.value) ? String(g.value) : g.value.toFixed(2),
    `${g.op} ${g.limit}`,
    g.met === undefined ? "not measured" : g.met ? "met" : "MISSED",
  ]);
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  return ["Issue 10 goals (this run):", ...rows.map(line)].join("\n");
}
