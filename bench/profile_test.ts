import assert from "node:assert/strict";
import { type CpuProfile, summarizeLog, summarizeProfile } from "./profile.ts";

Deno.test("summarizeLog() collects the RPC's figures and child time by program and verb", () => {
  const log = [
    "2026-01-01T00:00:00.000Z info RunPodSandbox request",
    "2026-01-01T00:00:00.001Z debug Ran program cmd=unshare verb=true ok=true ms=2.50",
    "2026-01-01T00:00:00.002Z debug Ran program cmd=bridge verb=ADD ok=true ms=10.00",
    "2026-01-01T00:00:00.003Z debug Ran program cmd=bridge verb=ADD ok=true ms=12.00",
    "2026-01-01T00:00:00.003Z debug Pinned namespaces in-process what=net ok=true ms=0.400",
    "2026-01-01T00:00:00.003Z debug Pinned namespaces in-process what=net ok=true ms=0.600",
    "2026-01-01T00:00:00.004Z info RunPodSandbox done ms=40.5",
    "2026-01-01T00:00:00.005Z info StopPodSandbox done ms=9.0",
  ].join("\n");
  const s = summarizeLog(log, "RunPodSandbox");
  assert.deepEqual(s.serverMs, [40.5]);
  assert.deepEqual(s.children.get("bridge ADD"), { ms: 22, count: 2 });
  assert.deepEqual(s.children.get("unshare true"), { ms: 2.5, count: 1 });
  assert.deepEqual(s.inProcess.get("net"), { ms: 1, max: 0.6, count: 2 });
});

Deno.test("summarizeProfile() charges sample gaps to functions and leaves idle out", () => {
  const frame = (functionName: string, url = "") => ({ functionName, url, lineNumber: 0 });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("(idle)") },
      { id: 3, callFrame: frame("createContainer", "file:///w/src/server/c.ts") },
      { id: 4, callFrame: frame("(garbage collector)") },
    ],
    startTime: 0,
    endTime: 4000,
    samples: [3, 3, 2, 4],
    timeDeltas: [0, 1000, 1000, 2000],
  };
  const s = summarizeProfile(profile, 5);
  assert.equal(s.busyMs, 2);
  assert.equal(s.byCategory.ocid, 2);
  assert.equal(s.top[0]!.frame, "createContainer (src/server/c.ts:1)");
});
