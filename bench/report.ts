/**
 * Turns scenario results into the printed table and the JSON written for comparison
 * across commits.
 *
 * @module
 */
import { type Percentiles, ratio, summarize } from "./stats.ts";
import type { ScenarioOptions, TargetResult } from "./scenario.ts";

/** The operations in table order; ListContainers rows follow the scenario's sizes. */
export function opNames(listSizes: readonly number[]): string[] {
  return [
    "RunPodSandbox",
    "CreateContainer",
    "StartContainer",
    "Create+Start",
    "ContainerStatus",
    ...listSizes.map((n) => `ListContainers (${n})`),
    "ExecSync",
    "StopContainer",
    "StopPodSandbox",
    "RemovePodSandbox",
    "PullImage (cached)",
    "PullImage (uncached)",
  ];
}

/** The JSON document of one benchmark run. */
export interface BenchReport {
  version: 1;
  date: string;
  host: { hostname: string; cpus: number; kernel: string };
  git?: string;
  scenario: ScenarioOptions;
  targets: Array<TargetResult & { latency: Record<string, Percentiles> }>;
}

/** Builds the JSON report (summaries plus raw samples). */
export function buildReport(
  results: TargetResult[],
  options: { scenario: ScenarioOptions; git?: string },
): BenchReport {
  return {
    version: 1,
    date: new Date().toISOString(),
    host: {
      hostname: Deno.hostname(),
      cpus: navigator.hardwareConcurrency,
      kernel: Deno.osRelease(),
    },
    ...(options.git ? { git: options.git } : {}),
    scenario: options.scenario,
    targets: results.map((r) => ({
      ...r,
      latency: Object.fromEntries(
        Object.entries(r.samples).flatMap(([op, s]) => {
          const p = summarize(s);
          return p ? [[op, p]] : [];
        }),
      ),
    })),
  };
}

const ms = (v: number | undefined) => v === undefined ? "-" : v < 10 ? v.toFixed(2) : v.toFixed(1);
const mib = (v: number | undefined) => v === undefined ? "-" : (v / 1048576).toFixed(1);
const x = (v: number | undefined) => v === undefined ? "-" : v.toFixed(2);
const num = (v: number | undefined, d = 1) => v === undefined ? "-" : v.toFixed(d);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r, i) => {
    const line = r.map((cell, c) => c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))
      .join("  ");
    return i === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
  }).join("\n");
}

/**
 * Renders the report as a text table: one row per operation with `p50 / p95 / p99` in ms
 * per target, then the ratio columns ocid/containerd and ocid/floor (each figure divided),
 * then pods/s, RSS and CPU rows. A target that names a model (the floor's pod model) gets a
 * line above the table.
 */
export function formatReport(report: BenchReport): string {
  const targets = report.targets;
  const byName = new Map(targets.map((t) => [t.name, t]));
  const ocid = byName.get("ocid");
  const peers = ocid ? ["containerd", "floor"].filter((n) => byName.has(n)) : [];
  const header = ["figure", ...targets.map((t) => t.name), ...peers.map((p) => `ocid/${p}`)];
  const rows: string[][] = [header];
  const lat = (
    t: TargetResult & { latency: Record<string, Percentiles> } | undefined,
    op: string,
  ) => t?.latency[op];
  const triple = (p: Percentiles | undefined) =>
    p ? `${ms(p.p50)} / ${ms(p.p95)} / ${ms(p.p99)}` : "-";
  for (const op of opNames(report.scenario.listSizes)) {
    const row = [`${op} ms p50/p95/p99`, ...targets.map((t) => triple(lat(t, op)))];
    for (const peer of peers) {
      const a = lat(ocid, op);
      const b = lat(byName.get(peer), op);
      row.push(
        a && b
          ? `${x(ratio(a.p50, b.p50))} / ${x(ratio(a.p95, b.p95))} / ${x(ratio(a.p99, b.p99))}`
          : "-",
      );
    }
    rows.push(row);
  }
  const scalar = (
    label: string,
    get: (t: TargetResult) => number | undefined,
    fmt: (v?: number) => string,
  ) => {
    const row = [label, ...targets.map((t) => fmt(get(t)))];
    for (const peer of peers) row.push(x(ratio(get(ocid!), get(byName.get(peer)!))));
    rows.push(row);
  };
  for (const c of report.scenario.concurrency) {
    scalar(`pods/s at concurrency ${c}`, (t) => t.podsPerSecond[String(c)], (v) => num(v));
  }
  scalar("daemon RSS idle MiB", (t) => t.idleRssBytes, mib);
  scalar(`daemon RSS with ${report.scenario.loadedPods} pods MiB`, (t) => t.loadedRssBytes, mib);
  scalar("monitor RSS per pod MiB", (t) => t.monitorsRssPerPodBytes, mib);
  scalar("monitor PSS per pod MiB", (t) => t.monitorsPssPerPodBytes, mib);
  scalar(
    `monitor RSS total MiB (${report.scenario.loadedPods} pods)`,
    (t) => t.monitorsRssBytes,
    mib,
  );
  scalar("monitor processes", (t) => t.monitorCount, (v) => num(v, 0));
  scalar("daemon CPU s over scenario", (t) => t.cpuSeconds, (v) => num(v, 2));
  const models = targets.flatMap((t) => t.model ? [`${t.name} pod model: ${t.model}`] : []);
  let out = (models.length ? `${models.join("\n")}\n\n` : "") + table(rows);
  for (const t of targets) {
    if (t.errors.length) {
      out += `\n\n${t.name}: ${t.errors.length} failure(s):\n  ${
        t.errors.slice(0, 10).join("\n  ")
      }`;
    }
  }
  return out;
}
