/**
 * UpdatePodSandboxResources: kubelet tells the runtime the pod-level resources after it has
 * resized the pod's cgroup itself (in-place pod resize). The CRI makes it best effort and
 * kubelet goes on if it fails. ocid keeps no pod-level resources of its own (the pod cgroup
 * is kubelet's; containers are updated through UpdateContainerResources), so it checks the
 * request, logs it and answers OK.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Deps } from "./deps.ts";

/** Answers UpdatePodSandboxResources. */
export async function updatePodSandboxResources(
  deps: Pick<Deps, "log" | "sandboxes">,
  req: cri.UpdatePodSandboxResourcesRequest,
): Promise<cri.UpdatePodSandboxResourcesResponseInit> {
  if (!req.pod_sandbox_id) throw new InvalidArgumentError("Missing pod_sandbox_id");
  const sandbox = deps.sandboxes.get(req.pod_sandbox_id); // NOT_FOUND when unknown
  deps.log.info("Pod resources updated by kubelet", {
    id: sandbox.id,
    cpuShares: req.resources?.cpu_shares,
    cpuQuota: req.resources?.cpu_quota,
    memoryLimit: req.resources?.memory_limit_in_bytes,
  });
  return await Promise.resolve({});
}
