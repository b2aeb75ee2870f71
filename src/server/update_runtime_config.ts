/**
 * UpdateRuntimeConfig: the kubelet hands over the node's pod CIDR. ocid's pod networking comes
 * from the CNI config dir (as with CRI-O), so the CIDR is only logged; the call succeeds.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";

/** What UpdateRuntimeConfig uses. */
export type UpdateRuntimeConfigDeps = Pick<Deps, "log">;

/** Answers UpdateRuntimeConfig. */
export function updateRuntimeConfig(
  deps: UpdateRuntimeConfigDeps,
  req: cri.UpdateRuntimeConfigRequest,
): Promise<cri.UpdateRuntimeConfigResponseInit> {
  const podCidr = req.runtime_config?.network_config?.pod_cidr ?? "";
  if (podCidr) {
    deps.log.info("Pod CIDR received; pod networking comes from the CNI config", { podCidr });
  }
  return Promise.resolve({});
}
