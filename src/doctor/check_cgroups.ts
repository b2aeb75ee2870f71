/**
 * Checks of the cgroup layout: legacy (v1), hybrid (v1 plus a cgroup2 mount) or unified (v2),
 * the controllers a pod needs, and the cgroup manager against the init system.
 *
 * @module
 */
import { type CgroupLayout, controllerVersion } from "../cgroups/layout.ts";
import type { Config } from "../config/types.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

/** Controllers without which pod limits and stats do not work. */
const NEEDED = ["cpu", "memory", "pids"] as const;
/** Controllers whose absence costs a feature. */
const WANTED: Record<string, string> = {
  cpuset: "CPU pinning (cpuset_cpus) is ignored",
  hugetlb: "hugepage limits are ignored",
};

/** The layout's name. */
export function layoutName(layout: CgroupLayout): "legacy" | "hybrid" | "unified" | "none" {
  const v1 = Object.keys(layout.v1).length > 0;
  if (v1 && layout.v2) return "hybrid";
  if (v1) return "legacy";
  return layout.v2 ? "unified" : "none";
}

/** The cgroup layout, controllers and manager. */
export async function checkCgroups(config: Config, host: DoctorHost): Promise<Finding[]> {
  const layout = await host.cgroupLayout();
  const name = layoutName(layout);
  const found: Finding[] = [];
  if (name === "none") {
    return [
      finding(
        "fail",
        "cgroups",
        "No cgroup filesystem is mounted",
        "mount cgroup2 at /sys/fs/cgroup",
      ),
    ];
  }
  const where = name === "unified"
    ? `cgroup2 at ${layout.v2}`
    : name === "hybrid"
    ? `cgroup v1 hierarchies plus cgroup2 at ${layout.v2}`
    : "cgroup v1 hierarchies";
  if (name === "hybrid") {
    found.push(finding(
      "warn",
      "cgroups",
      `Hybrid layout (${where}): runc works, crun refuses it ("cgroups in hybrid mode not supported")`,
      "keep runc as the runtime, or boot with systemd.unified_cgroup_hierarchy=1",
    ));
  } else {
    found.push(
      finding("ok", "cgroups", `${name === "unified" ? "Unified" : "Legacy"} layout (${where})`),
    );
  }
  const missing = NEEDED.filter((c) => controllerVersion(layout, c) === undefined);
  if (missing.length > 0) {
    found.push(finding(
      "fail",
      "cgroups",
      `Controllers a pod needs are missing: ${missing.join(", ")}`,
      "enable them in the kernel command line (cgroup_enable=memory) or in the parent's " +
        "cgroup.subtree_control",
    ));
  } else {
    const v = NEEDED.map((c) => `${c} (v${controllerVersion(layout, c)})`);
    found.push(finding("ok", "cgroups", `Controllers: ${v.join(", ")}`));
  }
  for (const [c, cost] of Object.entries(WANTED)) {
    if (controllerVersion(layout, c) === undefined) {
      found.push(
        finding("warn", "cgroups", `No ${c} controller: ${cost}`, `enable the ${c} controller`),
      );
    }
  }
  if (config.cgroupManager === "systemd" && !host.systemdIsInit()) {
    found.push(finding(
      "fail",
      "cgroups",
      'cgroup_manager is "systemd" but systemd is not PID 1',
      'set cgroup_manager = "cgroupfs"',
    ));
  }
  return found;
}
