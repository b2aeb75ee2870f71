/**
 * The one place handlers fit OCI resources to the machine's cgroups (see
 * `spec/fit_resources.ts`) and log what they dropped.
 *
 * @module
 */
import { fitResources } from "../spec/fit_resources.ts";
import type { LinuxResources } from "../spec/types.ts";
import type { Deps } from "./deps.ts";

/**
 * The resources without the limits this machine's cgroups cannot enforce; logs what it drops.
 *
 * @param deps The probed cgroup support and the log.
 * @param resources The resources built from the request.
 * @param context What they belong to, for the log (`{ container: id }`).
 */
export function enforceableResources(
  deps: Pick<Deps, "cgroupSupport" | "log">,
  resources: LinuxResources,
  context: Record<string, unknown>,
): LinuxResources {
  const fitted = fitResources(resources, deps.cgroupSupport);
  if (fitted.dropped.length > 0) {
    deps.log.info("Dropped limits this machine's cgroups cannot enforce", {
      ...context,
      dropped: fitted.dropped.join(","),
    });
  }
  return fitted.resources;
}
