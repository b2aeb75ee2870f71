/**
 * ListPodSandbox: the sandboxes in the store, filtered by ID prefix, state and label selector
 * (every label must match); the filters combine. Like ListContainers, an ID prefix that matches
 * several sandboxes lists them all: a List RPC never fails on an ambiguous prefix.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";
import { matchesLabels } from "./filters.ts";

/** Answers ListPodSandbox. */
export function listPodSandbox(
  deps: Pick<Deps, "sandboxes">,
  req: cri.ListPodSandboxRequest,
): Promise<cri.ListPodSandboxResponseInit> {
  const filter = req.filter;
  const items: cri.PodSandboxInit[] = [];
  for (const s of deps.sandboxes.list()) {
    if (filter?.id && !s.id.startsWith(filter.id)) continue;
    if (filter?.state && s.status.state !== filter.state.state) continue;
    const config = s.metadata.config;
    if (!matchesLabels(config.labels ?? {}, filter?.label_selector)) continue;
    items.push({
      id: s.id,
      metadata: config.metadata,
      state: s.status.state,
      created_at: s.metadata.createdAt,
      labels: config.labels ?? {},
      annotations: config.annotations ?? {},
      runtime_handler: s.metadata.runtimeHandler,
    });
  }
  return Promise.resolve({ items });
}
