/**
 * What this machine's cgroups can enforce, probed once at start-up: which controllers the OCI
 * runtime can use, which hugepage sizes the hugetlb controller knows, whether the cpu controller
 * has the realtime knobs and the memory controller a swap limit, and which cgroup v2 files a
 * `unified` map may name.
 *
 * runc (and crun) pick their cgroup driver the way runc's `IsCgroup2UnifiedMode` does: cgroup v2
 * only when `/sys/fs/cgroup` itself is cgroup2. On a legacy or hybrid machine they use the v1
 * hierarchies alone (a hybrid machine's cgroup2 mount, even one holding hugetlb, is not used for
 * limits) and refuse any `unified` key. A limit for a controller they cannot use fails the
 * whole container: "cannot set hugetlb limit: container could not join or create cgroup".
 *
 * @module
 */
import { exists } from "../exists.ts";
import type { CgroupLayout } from "./layout.ts";

/** The cgroup features a container's limits may use on this machine. */
export interface CgroupSupport {
  /** The runtime's driver: `v2` on a cgroup2-only machine, else `v1` (legacy or hybrid). */
  mode: "v1" | "v2";
  /** Controllers the runtime can use: `cpu`, `cpuset`, `memory`, `pids`, `hugetlb`, ... */
  controllers: string[];
  /** Page sizes the hugetlb controller supports, named as in the OCI spec (`2MB`, `1GB`). */
  hugePageSizes: string[];
  /** Whether the cpu controller has `cpu.rt_runtime_us` and `cpu.rt_period_us` (v1 only). */
  cpuRealtime: boolean;
  /** Whether the memory controller takes a swap limit (`memory.memsw.*` or `memory.swap.max`). */
  memorySwap: boolean;
}

/** The file reads {@linkcode probeCgroupSupport} makes; a fake in tests. */
export interface CgroupSupportFs {
  /** Names in a directory; [] when it is missing. */
  readDir(path: string): Promise<string[]>;
  /** Whether a path exists. */
  exists(path: string): Promise<boolean>;
  /** A file's text; "" when it is missing. */
  readText(path: string): Promise<string>;
}

/** {@linkcode CgroupSupportFs} on the real filesystem. */
export const denoCgroupSupportFs: CgroupSupportFs = {
  async readDir(path) {
    try {
      return await Array.fromAsync(Deno.readDir(path), (e) => e.name);
    } catch {
      return [];
    }
  },
  exists,
  readText: (path) => Deno.readTextFile(path).catch(() => ""),
};

/** Where the kernel lists its hugepage pools (`hugepages-2048kB`). */
export const HUGEPAGES_DIR = "/sys/kernel/mm/hugepages";

/**
 * The OCI/cgroup name of a page size in bytes, as runc's `HugePageSizes` and kubelet's
 * `HugePageUnitSizeFromByteSize` write it: the largest of KB, MB, GB that divides it.
 *
 * @example
 * ```ts
 * pageSizeName(2 * 1024 * 1024); // "2MB"
 * ```
 */
export function pageSizeName(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (bytes >= 1024 && bytes % 1024 === 0 && i < units.length - 1) {
    bytes /= 1024;
    i++;
  }
  return `${bytes}${units[i]}`;
}

/**
 * Probes what the runtime can enforce on this machine.
 *
 * v1 (legacy or hybrid): a controller counts when its v1 hierarchy is mounted; the hugepage
 * sizes are the `hugetlb.<size>.limit_in_bytes` files of the hugetlb hierarchy's root; realtime
 * knobs and swap need `cpu.rt_runtime_us` and `memory.memsw.limit_in_bytes` in their roots.
 * v2: the controllers of the root's `cgroup.controllers`; hugetlb knows every pool of
 * `/sys/kernel/mm/hugepages`; swap needs `memory.swap.max` in our own cgroup (the root has
 * none), as kubelet checks.
 *
 * @param layout The cgroup mounts ({@linkcode detectCgroupLayout}).
 * @param fs The file reads. @default denoCgroupSupportFs
 */
export async function probeCgroupSupport(
  layout: CgroupLayout,
  fs: CgroupSupportFs = denoCgroupSupportFs,
): Promise<CgroupSupport> {
  if (Object.keys(layout.v1).length === 0 && layout.v2 !== "") {
    const controllers = [...layout.v2Controllers];
    const pools = controllers.includes("hugetlb") ? await fs.readDir(HUGEPAGES_DIR) : [];
    const hugePageSizes = pools.flatMap((name) => {
      const m = /^hugepages-(\d+)kB$/.exec(name);
      return m ? [pageSizeName(Number(m[1]) * 1024)] : [];
    });
    const own = /^0::(\/.*)$/m.exec(await fs.readText("/proc/self/cgroup"))?.[1] ?? "/";
    const swap = controllers.includes("memory") &&
      await fs.exists(`${layout.v2}${own === "/" ? "" : own}/memory.swap.max`);
    return { mode: "v2", controllers, hugePageSizes, cpuRealtime: false, memorySwap: swap };
  }
  const controllers = Object.keys(layout.v1);
  const hugetlb = layout.v1["hugetlb"];
  const files = hugetlb ? await fs.readDir(hugetlb) : [];
  const hugePageSizes = files.flatMap((name) => {
    const m = /^hugetlb\.(\d+[KMGTP]?B)\.limit_in_bytes$/.exec(name);
    return m ? [m[1]!] : [];
  });
  const cpu = layout.v1["cpu"];
  const memory = layout.v1["memory"];
  return {
    mode: "v1",
    controllers,
    hugePageSizes,
    cpuRealtime: cpu !== undefined && await fs.exists(`${cpu}/cpu.rt_runtime_us`),
    memorySwap: memory !== undefined && await fs.exists(`${memory}/memory.memsw.limit_in_bytes`),
  };
}
