/**
 * Where the cgroup hierarchies are mounted: the v1 hierarchy of each controller and the
 * cgroup2 (unified) mount, read from `/proc/self/mountinfo`.
 *
 * Three layouts exist: legacy (v1 only), hybrid (v1 hierarchies plus a cgroup2 mount, often
 * at `/sys/fs/cgroup/unified`, that holds few or no controllers) and unified (cgroup2 only,
 * usually at `/sys/fs/cgroup`). A controller is read from its v1 hierarchy when it has one,
 * else from cgroup2 when cgroup2 offers it.
 *
 * @module
 */
import { unescapeMountinfo } from "../host/mountinfo.ts";

/** The cgroup mounts of this machine. */
export interface CgroupLayout {
  /** Mount point of each v1 controller's hierarchy (`cpuacct` -> `/sys/fs/cgroup/cpuacct`). */
  v1: Record<string, string>;
  /** Mount point of cgroup2, or "" when there is none. */
  v2: string;
  /** Controllers cgroup2 offers (its root's `cgroup.controllers`). */
  v2Controllers: string[];
  /**
   * Whether a cgroup mount has the `favordynmods` option, which keeps the kernel's lock on
   * moving processes between cgroups in its slow-reader mode: a move no longer waits for an RCU
   * grace period (see `./attach_warm.ts`). Absent: no such mount.
   */
  favorDynmods?: boolean;
}

/** The version a controller is read from, or undefined when neither offers it. */
export function controllerVersion(
  layout: CgroupLayout,
  controller: string,
): 1 | 2 | undefined {
  if (layout.v1[controller]) return 1;
  if (layout.v2 && layout.v2Controllers.includes(controller)) return 2;
  return undefined;
}

/**
 * Reads the cgroup mounts out of mountinfo text (proc(5)): `cgroup` mounts give v1
 * hierarchies (their super options name the controllers, `name=` hierarchies are skipped),
 * a `cgroup2` mount the unified one. The first mount of a hierarchy wins. A `favordynmods`
 * option on any of them sets `favorDynmods`.
 *
 * @param mountinfo The text of `/proc/self/mountinfo`.
 * @param v2Controllers The controllers cgroup2 offers (read by the caller). @default []
 * @example
 * ```ts
 * parseCgroupMounts("35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
 * // { v1: { memory: "/sys/fs/cgroup/memory" }, v2: "", v2Controllers: [] }
 * ```
 */
export function parseCgroupMounts(mountinfo: string, v2Controllers: string[] = []): CgroupLayout {
  const layout: CgroupLayout = { v1: {}, v2: "", v2Controllers };
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 5) continue;
    const mountPoint = unescapeMountinfo(fields[4] ?? "");
    const fsType = fields[sep + 1];
    const superOptions = (fields[sep + 3] ?? "").split(",");
    if (
      (fsType === "cgroup" || fsType === "cgroup2") && superOptions.includes("favordynmods")
    ) {
      layout.favorDynmods = true;
    }
    if (fsType === "cgroup2") {
      if (!layout.v2) layout.v2 = mountPoint;
    } else if (fsType === "cgroup") {
      for (const opt of superOptions) {
        if (opt === "rw" || opt === "ro" || opt.includes("=")) continue;
        layout.v1[opt] ??= mountPoint;
      }
    }
  }
  return layout;
}

/**
 * The layout of this machine, from `/proc/self/mountinfo` and the cgroup2 root's
 * `cgroup.controllers`. Reads two files; spawns nothing.
 */
export async function detectCgroupLayout(): Promise<CgroupLayout> {
  const layout = parseCgroupMounts(await Deno.readTextFile("/proc/self/mountinfo"));
  if (layout.v2) {
    const text = await Deno.readTextFile(`${layout.v2}/cgroup.controllers`).catch(() => "");
    layout.v2Controllers = text.split(/\s+/).filter((c) => c);
  }
  return layout;
}
