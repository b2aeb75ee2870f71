/**
 * A pod's port mappings in the network plugin's form, from its CRI config: RunPodSandbox takes
 * them from the request, StopPodSandbox from the stored config, so that a DEL without a cached
 * ADD result knows the mappings ADD had.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { PortMapping } from "../network/mod.ts";

/**
 * Converts the CRI port mappings of a pod.
 *
 * @param config The pod's config (a stored one may lack `port_mappings`).
 * @returns The mappings, in order; none when the config has none.
 */
export function podPortMappings(
  config: Pick<cri.PodSandboxConfig, "port_mappings">,
): PortMapping[] {
  return (config.port_mappings ?? []).map((p) => ({
    protocol: p.protocol,
    containerPort: p.container_port,
    hostPort: p.host_port,
    hostIp: p.host_ip,
  }));
}
