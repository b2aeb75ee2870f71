/**
 * CRI `LinuxContainerResources` to OCI `linux.resources`.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import type { LinuxContainerResources } from "../cri/types.ts";
import { int64 } from "./_int.ts";
import type { LinuxResources } from "./types.ts";

/** `2MB`, `1GB`, `64KB`: the page size names of the hugetlb cgroup controller. */
const PAGE_SIZE = /^[1-9]\d*(?:KB|MB|GB)$/;
/** A cgroup v2 file name: `memory.high`, `cpu.weight`, `io.max`. */
const UNIFIED_KEY = /^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/;
/** A cpuset list: `0-3,5`. */
const CPUSET = /^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/;

/** `cpu.shares` (cgroup v1; v2's weight is derived from it): 2 to 2^18. */
const SHARES = { min: 2, max: 262_144 } as const;
/** `cpu.cfs_period_us`: 1 ms to 1 s. */
const CFS_PERIOD_US = { min: 1_000, max: 1_000_000 } as const;
/** `cpu.cfs_quota_us` when limited (a negative quota is "no limit"): at least 1 ms. */
const CFS_QUOTA_US = { min: 1_000 } as const;

/** Throws unless `n` is 0 ("not set") or within `range` (no `max`: no upper bound). */
function outOfRange(
  field: string,
  name: string,
  n: number,
  range: { min: number; max?: number },
): void {
  const { min, max } = range;
  if (n === 0 || (n >= min && (max === undefined || n <= max))) return;
  const bound = max === undefined ? `at least ${min}` : `${min} to ${max}`;
  throw new InvalidArgumentError(`${field}.${name} must be 0 (not set) or ${bound}, got ${n}`);
}

/** `LinuxContainerResources` with nothing set, as a request without them decodes. */
export function noLinuxContainerResources(): LinuxContainerResources {
  return {
    cpu_period: "0",
    cpu_quota: "0",
    cpu_shares: "0",
    memory_limit_in_bytes: "0",
    oom_score_adj: "0",
    cpuset_cpus: "",
    cpuset_mems: "",
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: "0",
  };
}

/**
 * Converts CRI resources to OCI `linux.resources` (without device rules). Zero means "not
 * set" for every numeric field, as in the CRI.
 *
 * @param res The CRI resources.
 * @param field Where they sit in the request (`linux.resources`), for error messages.
 * @returns The OCI resources; an empty object when nothing is set.
 * @throws {InvalidArgumentError} For negative values, CPU shares, period or quota outside the
 * kernel's ranges, malformed cpusets, hugepage sizes or cgroup v2 keys, and a swap limit below the
 * memory limit.
 */
export function toLinuxResources(res: LinuxContainerResources, field: string): LinuxResources {
  const out: LinuxResources = {};
  const shares = int64(res.cpu_shares, `${field}.cpu_shares`);
  const quota = int64(res.cpu_quota, `${field}.cpu_quota`);
  const period = int64(res.cpu_period, `${field}.cpu_period`);
  const memory = int64(res.memory_limit_in_bytes, `${field}.memory_limit_in_bytes`);
  const swap = int64(res.memory_swap_limit_in_bytes, `${field}.memory_swap_limit_in_bytes`);
  for (
    const [name, n] of [["cpu_shares", shares], ["cpu_period", period], [
      "memory_limit_in_bytes",
      memory,
    ]] as const
  ) {
    if (n < 0) throw new InvalidArgumentError(`${field}.${name} must not be negative, got ${n}`);
  }
  // The kernel's ranges (runc writes the value and fails, as INTERNAL, on one outside them).
  // kubelet keeps shares in 2..262144 and quotas at 1 ms or more.
  outOfRange(field, "cpu_shares", shares, SHARES);
  outOfRange(field, "cpu_period", period, CFS_PERIOD_US);
  if (quota > 0) outOfRange(field, "cpu_quota", quota, CFS_QUOTA_US);
  for (
    const [name, set] of [["cpuset_cpus", res.cpuset_cpus], [
      "cpuset_mems",
      res.cpuset_mems,
    ]] as const
  ) {
    if (set !== "" && !CPUSET.test(set)) {
      throw new InvalidArgumentError(
        `Invalid ${field}.${name} ${JSON.stringify(set)}: expected a list like "0-3,5"`,
      );
    }
  }
  const cpu: NonNullable<LinuxResources["cpu"]> = {};
  if (shares > 0) cpu.shares = shares;
  if (quota !== 0) cpu.quota = quota;
  if (period > 0) cpu.period = period;
  if (res.cpuset_cpus !== "") cpu.cpus = res.cpuset_cpus;
  if (res.cpuset_mems !== "") cpu.mems = res.cpuset_mems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;

  if (memory > 0 || swap !== 0) {
    if (swap > 0 && memory > 0 && swap < memory) {
      throw new InvalidArgumentError(
        `${field}.memory_swap_limit_in_bytes (${swap}) must not be below memory_limit_in_bytes (${memory})`,
      );
    }
    out.memory = {};
    if (memory > 0) out.memory.limit = memory;
    if (swap !== 0) out.memory.swap = swap;
  }

  if (res.hugepage_limits.length > 0) {
    out.hugepageLimits = res.hugepage_limits.map((h, i) => {
      if (!PAGE_SIZE.test(h.page_size)) {
        throw new InvalidArgumentError(
          `Invalid ${field}.hugepage_limits[${i}].page_size ${
            JSON.stringify(h.page_size)
          }: expected a size like "2MB"`,
        );
      }
      const limit = int64(h.limit, `${field}.hugepage_limits[${i}].limit`);
      return { pageSize: h.page_size, limit };
    });
  }

  const unified = Object.entries(res.unified);
  if (unified.length > 0) {
    out.unified = {};
    for (const [key, value] of unified) {
      if (!UNIFIED_KEY.test(key)) {
        throw new InvalidArgumentError(
          `Invalid cgroup v2 file name ${JSON.stringify(key)} in ${field}.unified`,
        );
      }
      if (/[\n\0]/.test(value)) {
        throw new InvalidArgumentError(
          `Invalid value of "${key}" in ${field}.unified: line breaks and NUL are not allowed`,
        );
      }
      out.unified[key] = value;
    }
  }
  return out;
}
