/**
 * ListContainerStats: the stats of the containers in the store, filtered by ID prefix, pod
 * sandbox ID (or prefix) and label selector. Reads cgroup files only; no process is spawned.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { type ContainerStatsDeps, containerStatsOf } from "./container_stats.ts";
import { matchesLabels } from "./filters.ts";

/** What ListContainerStats uses. */
export type ListContainerStatsDeps = ContainerStatsDeps;

/** Answers ListContainerStats. */
export async function listContainerStats(
  deps: ListContainerStatsDeps,
  req: cri.ListContainerStatsRequest,
): Promise<cri.ListContainerStatsResponseInit> {
  const filter = req.filter;
  const all = deps.containers.list();
  const selected = all.filter((c) =>
    (!filter?.id || c.id.startsWith(filter.id)) &&
    (!filter?.pod_sandbox_id || c.metadata.sandboxId.startsWith(filter.pod_sandbox_id)) &&
    matchesLabels(c.metadata.config.labels ?? {}, filter?.label_selector)
  );
  const stats = await Promise.all(selected.map((c) => containerStatsOf(deps, c)));
  // Forget what belongs to removed containers and pods.
  deps.stats.retain(new Set([...all.map((c) => c.id), ...deps.sandboxes.list().map((s) => s.id)]));
  return { stats };
}
