/**
 * A pod's port mappings in the network plugin's form, from its CRI config: RunPodSandbox takes
 * them from the request, StopPodSandbox from the stored config, so that a DEL without a cached
 * ADD result knows the mappings ADD had.
 *
 * @module
 */
import { isIP } from "node:net";
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { PortMapping } from "../network/mod.ts";
import { isPort } from "../port.ts";

/**
 * Refuses port mappings no network plugin can honour, before anything is made: a container port
 * outside 1-65535, a host port outside 0-65535 (0: none), a host IP that is not an address.
 * Unchecked, they failed in the portmap plugin's ADD, as INTERNAL, after the pod's namespaces
 * and network were made (and rolled back).
 *
 * @throws {InvalidArgumentError} naming the mapping and the value
 */
export function validatePortMappings(mappings: readonly cri.PortMapping[]): void {
  for (const [i, m] of mappings.entries()) {
    const field = `config.port_mappings[${i}]`;
    if (!isPort(m.container_port)) {
      throw new InvalidArgumentError(
        `Invalid ${field}.container_port ${m.container_port}: expected 1 to 65535`,
      );
    }
    if (!isPort(m.host_port, 0)) {
      throw new InvalidArgumentError(
        `Invalid ${field}.host_port ${m.host_port}: expected 0 (none) to 65535`,
      );
    }
    if (m.host_ip !== "" && isIP(m.host_ip) === 0) {
      throw new InvalidArgumentError(
        `Invalid ${field}.host_ip ${JSON.stringify(m.host_ip)}: expected an IP address`,
      );
    }
  }
}

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
