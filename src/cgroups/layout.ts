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
import { join } from "node:path";
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

/** One line of `/proc/<pid>/cgroup`: `hierarchy-id:controller-list:path`. */
export interface ProcCgroupLine {
  /** Hierarchy id; "0" for cgroup2. */
  id: string;
  /** The hierarchy's controllers (`cpu,cpuacct`, `name=systemd`); "" for cgroup2. */
  controllers: string;
  /** The cgroup's path from the hierarchy's root. */
  path: string;
}

/** Whether a `/proc/<pid>/cgroup` line is cgroup2's (`0::<path>`). */
export function isUnifiedLine(line: ProcCgroupLine): boolean {
  return line.id === "0" && line.controllers === "";
}

/**
 * The lines of a `/proc/<pid>/cgroup` text (cgroups(7)); a line whose path is not absolute is
 * skipped. A path may hold colons.
 */
export function parseProcCgroup(text: string): ProcCgroupLine[] {
  return text.split("\n").flatMap((line) => {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) return [];
    const path = line.slice(second + 1);
    if (!path.startsWith("/")) return [];
    return [{ id: line.slice(0, first), controllers: line.slice(first + 1, second), path }];
  });
}

/**
 * The dir of a process's cgroup for one controller: in the controller's v1 hierarchy when it
 * has one, else in cgroup2 when cgroup2 offers it; undefined otherwise.
 *
 * @param layout Where the hierarchies are mounted.
 * @param procCgroup The text of `/proc/<pid>/cgroup`.
 * @param controller `cpuset`, `memory`, ...
 */
export function controllerDir(
  layout: CgroupLayout,
  procCgroup: string,
  controller: string,
): string | undefined {
  const lines = parseProcCgroup(procCgroup);
  const version = controllerVersion(layout, controller);
  const line = version === 1
    ? lines.find((l) => l.controllers.split(",").includes(controller))
    : version === 2
    ? lines.find(isUnifiedLine)
    : undefined;
  if (!line) return undefined;
  return join(version === 1 ? layout.v1[controller]! : layout.v2, line.path);
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
