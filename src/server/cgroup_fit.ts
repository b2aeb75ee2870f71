/**
 * The one place handlers fit OCI resources to the machine's cgroups (see
 * `spec/fit_resources.ts`) and log what they dropped.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { firstOffline, type OnlineReader, sysfsOnline } from "../host/cpus.ts";
import { fitResources } from "../spec/fit_resources.ts";
import type { LinuxResources } from "../spec/types.ts";
import type { Deps } from "./deps.ts";

/**
 * The resources without the limits this machine's cgroups cannot enforce; logs what it drops.
 *
 * @param deps The probed cgroup support and the log.
 * @param resources The resources built from the request.
 * @param context What they belong to, for the log (`{ container: id }`).
 * @param online The node's online CPUs and memory nodes. @default sysfsOnline
 * @throws {InvalidArgumentError} When the cpuset names a CPU or memory node the node does not
 *   have online.
 */
export function enforceableResources(
  deps: Pick<Deps, "cgroupSupport" | "log">,
  resources: LinuxResources,
  context: Record<string, unknown>,
  online: OnlineReader = sysfsOnline,
): LinuxResources {
  const cpusets = [
    ["cpuset_cpus", resources.cpu?.cpus, () => online.cpus(), "CPU"],
    ["cpuset_mems", resources.cpu?.mems, () => online.mems(), "memory node"],
  ] as const;
  for (const [name, requested, read, what] of cpusets) {
    if (requested === undefined || requested === "") continue;
    const have = read();
    const missing = firstOffline(requested, have);
    if (missing !== undefined) {
      throw new InvalidArgumentError(
        `${name} ${JSON.stringify(requested)} names ${what} ${missing}, which this node does ` +
          `not have online (${JSON.stringify(have)})`,
      );
    }
  }
  const fitted = fitResources(resources, deps.cgroupSupport);
  if (fitted.dropped.length > 0) {
    deps.log.info("Dropped limits this machine's cgroups cannot enforce", {
      ...context,
      dropped: fitted.dropped.join(","),
    });
  }
  return fitted.resources;
}
