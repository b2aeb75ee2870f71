/**
 * RuntimeConfig: the cgroup driver in use, so the kubelet can match it.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";

/** Answers RuntimeConfig. */
export function runtimeConfig(
  deps: Pick<Deps, "config">,
  _req: cri.RuntimeConfigRequest,
): Promise<cri.RuntimeConfigResponseInit> {
  return Promise.resolve({
    linux: { cgroup_driver: deps.config.cgroupManager === "systemd" ? "SYSTEMD" : "CGROUPFS" },
  });
}
