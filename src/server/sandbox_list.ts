/**
 * ListPodSandbox: the sandboxes in the store, filtered by ID (or unique prefix), state and
 * label selector (every label must match).
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";
import { findOrUndefined } from "./sandbox_stop.ts";
import { matchesLabels } from "./filters.ts";

/** Answers ListPodSandbox. */
export function listPodSandbox(
  deps: Pick<Deps, "sandboxes">,
  req: cri.ListPodSandboxRequest,
): Promise<cri.ListPodSandboxResponseInit> {
  const filter = req.filter;
  let sandboxes = deps.sandboxes.list();
  if (filter?.id) {
    const one = findOrUndefined(deps, filter.id);
    sandboxes = one ? [one] : [];
  }
  const items: cri.PodSandboxInit[] = [];
  for (const s of sandboxes) {
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
