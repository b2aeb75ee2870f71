/**
 * ListPodSandboxStats: the stats of the ready pod sandboxes, filtered by ID prefix and label
 * selector (as containerd, pods that are not ready are left out). Files only; no process is
 * spawned.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { matchesLabels } from "./filters.ts";
import { type PodSandboxStatsDeps, sandboxStatsOf } from "./sandbox_stats.ts";

/** What ListPodSandboxStats uses. */
export type ListPodSandboxStatsDeps = PodSandboxStatsDeps;

/** Answers ListPodSandboxStats. */
export async function listPodSandboxStats(
  deps: ListPodSandboxStatsDeps,
  req: cri.ListPodSandboxStatsRequest,
): Promise<cri.ListPodSandboxStatsResponseInit> {
  const filter = req.filter;
  const all = deps.sandboxes.list();
  const selected = all.filter((s) =>
    s.status.state === "SANDBOX_READY" &&
    (!filter?.id || s.id.startsWith(filter.id)) &&
    matchesLabels(s.metadata.config.labels ?? {}, filter?.label_selector)
  );
  const stats = await Promise.all(selected.map((s) => sandboxStatsOf(deps, s)));
  deps.stats.retain(
    new Set([...all.map((s) => s.id), ...deps.containers.list().map((c) => c.id)]),
  );
  return { stats };
}
