/**
 * Drops the limits of `linux.resources` this machine's cgroups cannot enforce, so that a missing
 * controller never fails a container. kubelet asks for a hugepage limit (0 unless requested) for
 * every pool of `/sys/kernel/mm/hugepages`, whether or not a hugetlb controller is there; runc
 * then fails the container ("cannot set hugetlb limit"). containerd drops hugepage limits when
 * the controller is missing (`tolerate_missing_hugetlb_controller`) and CRI-O keeps only the page
 * sizes the cgroup supports; ocid does both, and the same for the other optional controllers.
 *
 * @module
 */
import type { CgroupSupport } from "../cgroups/support.ts";
import type { LinuxResources } from "./types.ts";

/** What {@linkcode fitResources} returns. */
export interface FittedResources {
  /** The resources without what cannot be enforced (the input is not changed). */
  resources: LinuxResources;
  /** What was dropped, for the log: `hugepageLimits[2MB]`, `cpu.mems`, `unified[io.max]`. */
  dropped: string[];
}

/**
 * Keeps the limits the machine can enforce:
 * - hugepage limits only for sizes the hugetlb controller supports (none without it);
 * - `cpu.cpus` and `cpu.mems` only with a cpuset controller; shares, quota and period only
 *   with a cpu controller; the realtime knobs only where the cpu controller has them;
 * - `memory.swap` only where the memory controller takes a swap limit; there, a memory limit
 *   without one gets a swap limit equal to it (memory and swap together: no swap), as
 *   containerd and CRI-O do, so a limited container cannot grow into the node's swap unless the
 *   request (or a `unified` `memory.swap.max`) says so;
 * - `pids.limit` only with a pids controller;
 * - `unified` keys only on cgroup v2 (runc refuses them on v1 and hybrid machines), and there
 *   only for controllers cgroup v2 offers (`cgroup.*` files are always there).
 *
 * @param resources The OCI resources built from the request.
 * @param support What this machine supports ({@linkcode probeCgroupSupport}).
 * @returns The resources to use and what was dropped.
 * @example
 * ```ts
 * const { resources, dropped } = fitResources(spec.linux.resources, support);
 * if (dropped.length > 0) log.info("Dropped limits this machine cannot enforce", { dropped });
 * ```
 */
export function fitResources(resources: LinuxResources, support: CgroupSupport): FittedResources {
  const out: LinuxResources = structuredClone(resources);
  const dropped: string[] = [];
  const has = (controller: string) => support.controllers.includes(controller);

  if (out.hugepageLimits) {
    const kept = out.hugepageLimits.filter((h) => {
      const ok = has("hugetlb") && support.hugePageSizes.includes(h.pageSize);
      if (!ok) dropped.push(`hugepageLimits[${h.pageSize}]`);
      return ok;
    });
    if (kept.length > 0) out.hugepageLimits = kept;
    else delete out.hugepageLimits;
  }

  if (out.cpu) {
    const cpu = out.cpu;
    const drop = (key: keyof typeof cpu, keep: boolean) => {
      if (cpu[key] !== undefined && !keep) {
        delete cpu[key];
        dropped.push(`cpu.${key}`);
      }
    };
    drop("cpus", has("cpuset"));
    drop("mems", has("cpuset"));
    drop("shares", has("cpu"));
    drop("quota", has("cpu"));
    drop("period", has("cpu"));
    drop("realtimeRuntime", has("cpu") && support.cpuRealtime);
    drop("realtimePeriod", has("cpu") && support.cpuRealtime);
    if (Object.keys(cpu).length === 0) delete out.cpu;
  }

  const swapControl = has("memory") && support.memorySwap;
  if (
    swapControl && out.memory?.limit !== undefined && out.memory.limit > 0 &&
    out.memory.swap === undefined && out.unified?.["memory.swap.max"] === undefined
  ) {
    out.memory.swap = out.memory.limit;
  }
  if (out.memory?.swap !== undefined && !swapControl) {
    delete out.memory.swap;
    dropped.push("memory.swap");
    if (Object.keys(out.memory).length === 0) delete out.memory;
  }

  if (out.pids && !has("pids")) {
    delete out.pids;
    dropped.push("pids.limit");
  }

  if (out.unified) {
    for (const key of Object.keys(out.unified)) {
      const controller = key.slice(0, key.indexOf("."));
      if (support.mode !== "v2" || (controller !== "cgroup" && !has(controller))) {
        delete out.unified[key];
        dropped.push(`unified[${key}]`);
      }
    }
    if (Object.keys(out.unified).length === 0) delete out.unified;
  }
  return { resources: out, dropped };
}
