/**
 * UpdateContainerResources: applies new Linux resources to a created or running container
 * (`<runtime> update`), then keeps them in the bundle's config.json and the container's status
 * (ContainerStatus reports them).
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
import { toLinuxResources } from "../spec/mod.ts";
import type { Spec } from "../spec/types.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { canUpdateContainer } from "../store/container.ts";
import type { Deps } from "./deps.ts";
import { enforceableResources } from "./cgroup_fit.ts";

/** What UpdateContainerResources uses. */
export type UpdateContainerResourcesDeps = Pick<
  Deps,
  "log" | "locks" | "runtime" | "containers" | "cgroupSupport"
>;

/** Answers UpdateContainerResources. */
export async function updateContainerResources(
  deps: UpdateContainerResourcesDeps,
  req: cri.UpdateContainerResourcesRequest,
): Promise<cri.UpdateContainerResourcesResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  if (!req.linux) throw new InvalidArgumentError("Missing linux resources in the request");
  const requested = toLinuxResources(req.linux, "linux");
  const id = deps.containers.get(req.container_id).id;
  const resources = enforceableResources(deps, requested, { container: id });
  using _ = await deps.locks.lock(`container:${id}`);
  const container = deps.containers.get(id);
  if (!canUpdateContainer(container.status)) {
    throw new FailedPreconditionError(
      `Cannot update the resources of container "${id}": it is ${container.status.state}`,
    );
  }
  await deps.runtime.updateResources(id, resources);

  const specPath = join(container.metadata.bundle, "config.json");
  const spec = JSON.parse(await Deno.readTextFile(specPath)) as Spec;
  if (spec.linux) {
    // Device rules are not updatable through the CRI; keep the created ones.
    spec.linux.resources = { ...resources, devices: spec.linux.resources?.devices ?? [] };
    await writeFileAtomic(specPath, JSON.stringify(spec, null, 2));
  }
  await deps.containers.update(id, (s) => ({ ...s, resources: req.linux! }));
  deps.log.info("Container resources updated", { id });
  return {};
}
