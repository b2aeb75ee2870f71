/**
 * ListContainers: the containers in the store, filtered by ID prefix, state, pod sandbox ID
 * (or prefix) and label selector (every label must match); the filters combine. Answered from memory: no process is
 * spawned and no file is read, however many containers there are.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";
import { matchesLabels, NO_LABELS } from "./filters.ts";
import { imageName } from "./container_status.ts";
import type { ContainerRecord } from "../store/container.ts";

/**
 * The answered entry of each record. Records are replaced, never changed in place, so a record
 * keeps its entry (frozen: its encoding is kept too, see `encodedEntry` in `../cri/proto.ts`)
 * until it changes or the name of its image does.
 */
const entries = new WeakMap<ContainerRecord, Readonly<cri.ContainerInit>>();

/** The ListContainers entry of a record; the same object while nothing it shows changed. */
function entryOf(deps: ListContainersDeps, c: ContainerRecord): cri.ContainerInit {
  const image = imageName(deps, c.metadata);
  const known = entries.get(c);
  if (known && known.image?.image === image) return known;
  const config = c.metadata.config;
  const entry: cri.ContainerInit = Object.freeze({
    id: c.id,
    pod_sandbox_id: c.metadata.sandboxId,
    metadata: config.metadata,
    image: Object.freeze({
      image,
      user_specified_image: config.image?.user_specified_image ?? "",
    }),
    // The image ID, as containerd answers: kubelet 1.29 takes Container.image_ref as the
    // container's image ID (kuberuntime toKubeContainer), and its image GC keeps only images
    // whose ListImages id is such an ID (detectImages). ContainerStatus keeps the repo digest.
    image_ref: c.metadata.imageId,
    image_id: c.metadata.imageId,
    state: c.status.state,
    created_at: c.metadata.createdAt,
    labels: config.labels ?? NO_LABELS,
    annotations: config.annotations ?? NO_LABELS,
  });
  entries.set(c, entry);
  return entry;
}

/** What ListContainers uses. */
export type ListContainersDeps = Pick<Deps, "containers" | "images">;

/** Answers ListContainers. */
export function listContainers(
  deps: ListContainersDeps,
  req: cri.ListContainersRequest,
): Promise<cri.ListContainersResponseInit> {
  const filter = req.filter;
  const containers: cri.ContainerInit[] = [];
  for (const c of deps.containers.list()) {
    if (filter?.id && !c.id.startsWith(filter.id)) continue;
    if (filter?.state && c.status.state !== filter.state.state) continue;
    if (filter?.pod_sandbox_id && !c.metadata.sandboxId.startsWith(filter.pod_sandbox_id)) {
      continue;
    }
    const config = c.metadata.config;
    if (!matchesLabels(config.labels ?? {}, filter?.label_selector)) continue;
    containers.push(entryOf(deps, c));
  }
  return Promise.resolve({ containers });
}
