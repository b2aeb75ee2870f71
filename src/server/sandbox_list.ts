/**
 * ListPodSandbox: the sandboxes in the store, filtered by ID prefix, state and label selector
 * (every label must match); the filters combine. Like ListContainers, an ID prefix that matches
 * several sandboxes lists them all: a List RPC never fails on an ambiguous prefix.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";
import { matchesLabels, NO_LABELS } from "./filters.ts";
import type { SandboxRecord } from "../store/sandbox.ts";

/**
 * The answered entry of each record, frozen (its encoding is kept too, see `encodedEntry` in
 * `../cri/proto.ts`) until the record, replaced on every change, changes.
 */
const entries = new WeakMap<SandboxRecord, Readonly<cri.PodSandboxInit>>();

/** The ListPodSandbox entry of a record; the same object until the record changes. */
function entryOf(s: SandboxRecord): cri.PodSandboxInit {
  const known = entries.get(s);
  if (known) return known;
  const config = s.metadata.config;
  const entry: cri.PodSandboxInit = Object.freeze({
    id: s.id,
    metadata: config.metadata,
    state: s.status.state,
    created_at: s.metadata.createdAt,
    labels: config.labels ?? NO_LABELS,
    annotations: config.annotations ?? NO_LABELS,
    runtime_handler: s.metadata.runtimeHandler,
  });
  entries.set(s, entry);
  return entry;
}

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
    items.push(entryOf(s));
  }
  return Promise.resolve({ items });
}
