import assert from "node:assert/strict";
import { buildReport, formatReport, opNames } from "./report.ts";
import { QUICK_SCENARIO, type TargetResult } from "./scenario.ts";

function fake(name: string, ms: number, extra: Partial<TargetResult> = {}): TargetResult {
  const samples: Record<string, number[]> = {};
  for (const op of opNames(QUICK_SCENARIO.listSizes)) samples[op] = [ms, ms, ms];
  return { name, samples, podsPerSecond: { "1": 1000 / ms, "2": 2000 / ms }, errors: [], ...extra };
}

Deno.test("formatReport() prints a row per op and ratio columns against each peer", () => {
  const report = buildReport([
    fake("ocid", 20, { idleRssBytes: 2 * 1048576, cpuSeconds: 2 }),
    fake("containerd", 10, { idleRssBytes: 1048576, cpuSeconds: 1 }),
    fake("floor", 5, { samples: {} }),
  ], { scenario: QUICK_SCENARIO });
  const text = formatReport(report);
  const lines = text.split("\n");
  assert.match(lines[0]!, /figure\s+ocid\s+containerd\s+floor\s+ocid\/containerd\s+ocid\/floor/);
  const run = lines.find((l) => l.startsWith("RunPodSandbox"))!;
  assert.match(
    run,
    /20\.0 \/ 20\.0 \/ 20\.0\s+10\.0 \/ 10\.0 \/ 10\.0\s+-\s+2\.00 \/ 2\.00 \/ 2\.00\s+-$/,
  );
  assert.match(lines.find((l) => l.startsWith("daemon RSS idle"))!, /2\.0\s+1\.0\s+-\s+2\.00\s+-$/);
  for (const op of opNames(QUICK_SCENARIO.listSizes)) {
    assert.ok(lines.some((l) => l.startsWith(`${op} ms`)), `missing row ${op}`);
  }
});

Deno.test("buildReport() summarises samples and omits empty ops", () => {
  const report = buildReport([fake("floor", 5, { samples: { ExecSync: [1, 2, 3] } })], {
    scenario: QUICK_SCENARIO,
  });
  const floor = report.targets[0]!;
  assert.deepEqual(Object.keys(floor.latency), ["ExecSync"]);
  assert.equal(floor.latency.ExecSync!.p50, 2);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(report)));
});

Deno.test("formatReport() names a target's model above the table", () => {
  const report = buildReport([fake("ocid", 20), fake("floor", 5, { model: "pinned" })], {
    scenario: QUICK_SCENARIO,
  });
  assert.equal(report.targets[1]!.model, "pinned");
  const lines = formatReport(report).split("\n");
  assert.equal(lines[0], "floor pod model: pinned");
  assert.equal(lines[1], "");
  assert.match(lines[2]!, /^figure\s+ocid\s+floor\s+ocid\/floor$/);
});
