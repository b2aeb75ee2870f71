import assert from "node:assert/strict";
import { formatGoals, goals } from "./goals.ts";
import { buildReport, opNames } from "./report.ts";
import { QUICK_SCENARIO, type TargetResult } from "./scenario.ts";

const MIB = 1048576;

function target(name: string, ms: Record<string, number>, extra: Partial<TargetResult> = {}) {
  const samples: Record<string, number[]> = {};
  for (const op of opNames(QUICK_SCENARIO.listSizes)) {
    if (ms[op] !== undefined) samples[op] = [ms[op]!, ms[op]!, ms[op]!];
  }
  return { name, samples, podsPerSecond: {}, errors: [], ...extra } satisfies TargetResult;
}

const top = String(Math.max(...QUICK_SCENARIO.concurrency));
const pods = QUICK_SCENARIO.loadedPods;

Deno.test("goals() reads each of issue 10's goals from one run, met or missed", () => {
  const report = buildReport([
    target("ocid", {
      RunPodSandbox: 15,
      StopPodSandbox: 30,
      RemovePodSandbox: 5,
      "Create+Start": 50,
      ExecSync: 24,
    }, {
      podsPerSecond: { [top]: 21 },
      monitorCount: pods,
      loadedRssBytes: 90 * MIB,
      monitorsRssBytes: 110 * MIB,
      idleRssBytes: 84 * MIB,
    }),
    target("containerd", {
      RunPodSandbox: 60,
      StopPodSandbox: 60,
      RemovePodSandbox: 10,
      "Create+Start": 100,
      ExecSync: 30,
    }, {
      podsPerSecond: { [top]: 10 },
      loadedRssBytes: 100 * MIB,
      monitorsRssBytes: 700 * MIB,
    }),
    target("floor", { "Create+Start": 40, ExecSync: 20 }),
  ], { scenario: QUICK_SCENARIO });
  const got = goals(report).map((g) => [g.goal, Number(g.value?.toFixed(3)), g.met]);
  assert.deepEqual(got, [
    ["RunPodSandbox p50, ocid/containerd", 0.25, true],
    ["StopPodSandbox p50, ocid/containerd", 0.5, false],
    ["RemovePodSandbox p50, ocid/containerd", 0.5, true],
    [`pods/s at concurrency ${top}, ocid/containerd`, 2.1, true],
    [`monitor processes, ${pods} one-container pods`, pods, true],
    ["Create+Start p50, ocid/containerd", 0.5, true],
    ["Create+Start p50, ocid/floor", 1.25, true],
    ["ExecSync p50, ocid/floor", 1.2, true],
    [`daemon + monitors RSS, ${pods} pods, ocid/containerd`, 0.25, true],
    ["idle daemon RSS MiB", 84, false],
  ]);
  const text = formatGoals(report);
  assert.match(text, /^StopPodSandbox p50, ocid\/containerd\s+0\.50\s+<= 0\.4\s+MISSED$/m);
  assert.match(text, /^idle daemon RSS MiB\s+84\s+<= 75\s+MISSED$/m);
  assert.match(text, /^RunPodSandbox p50, ocid\/containerd\s+0\.25\s+<= 0\.3\s+met$/m);
});

Deno.test("goals() leaves a goal unmeasured when the run lacks its target", () => {
  const report = buildReport([
    target("ocid", { "Create+Start": 50 }, { monitorCount: pods - 1 }),
  ], { scenario: QUICK_SCENARIO });
  const byGoal = new Map(goals(report).map((g) => [g.goal, g]));
  assert.equal(byGoal.get("Create+Start p50, ocid/floor")!.met, undefined);
  assert.equal(byGoal.get("Create+Start p50, ocid/floor")!.value, undefined);
  assert.equal(byGoal.get(`monitor processes, ${pods} one-container pods`)!.met, false);
  assert.match(formatGoals(report), /ExecSync p50, ocid\/floor\s+-\s+<= 1\.2\s+not measured/);
});
