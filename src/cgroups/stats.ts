/**
 * Reads a cgroup's CPU, memory and process counters from its files, for cgroup v1 and v2.
 * Nothing is spawned; each controller costs one to four small file reads.
 *
 * | value            | v1 (hierarchical `total_*` when present)     | v2                           |
 * |------------------|----------------------------------------------|------------------------------|
 * | CPU time (ns)    | `cpuacct.usage`                              | `cpu.stat` usage_usec × 1000 |
 * | memory usage     | `memory.usage_in_bytes`                      | `memory.current`             |
 * | working set      | usage - `total_inactive_file`                | usage - `inactive_file`      |
 * | RSS              | `total_rss`                                  | `anon`                       |
 * | page faults      | `total_pgfault`, `total_pgmajfault`          | `pgfault`, `pgmajfault`      |
 * | memory limit     | `memory.limit_in_bytes` (huge = none)        | `memory.max` ("max" = none)  |
 * | swap usage       | `total_swap` (with swap accounting)          | `memory.swap.current`        |
 * | swap limit       | `memory.memsw.limit_in_bytes` - memory limit | `memory.swap.max`            |
 * | processes        | `pids.current`                               | `pids.current`               |
 *
 * @module
 */
import { type CgroupLayout, controllerVersion } from "./layout.ts";

/** Memory counters of a cgroup, in bytes (faults in events). */
export interface MemoryStats {
  usageBytes: number;
  /** Usage minus inactive file pages, never below 0: what the kubelet evicts on. */
  workingSetBytes: number;
  rssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** The memory limit; absent when unlimited. */
  limitBytes?: number;
  /** Swap, when the kernel accounts it. */
  swap?: { usageBytes: number; limitBytes?: number };
}

/** What a cgroup's files say; a part is absent when its controller is not available. */
export interface CgroupStats {
  /** Total CPU time consumed, in ns. */
  cpu?: { usageNs: bigint };
  memory?: MemoryStats;
  /** Number of tasks in the cgroup. */
  pids?: { current: number };
}

/** How cgroup files are read; a test can pass a fake. */
export interface CgroupFs {
  /** The file's text, or undefined when it does not exist. */
  readTextFile(path: string): Promise<string | undefined>;
}

/** The real file system. */
export const denoCgroupFs: CgroupFs = {
  async readTextFile(path) {
    try {
      return await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
  },
};

/** Options of {@linkcode readCgroupStats}. */
export interface ReadCgroupStatsOptions {
  /** File access. @default denoCgroupFs */
  fs?: CgroupFs;
}

/** Values at or above this are "no limit" (v1 reports PAGE_COUNTER_MAX × page size). */
const UNLIMITED = 2 ** 60;

/** Parses `key value` lines (memory.stat, cpu.stat) into numbers. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

function num(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

/** A limit file: undefined for "max", a huge value, or a missing file. */
function limit(text: string | undefined): number | undefined {
  const n = num(text);
  return n === undefined || n >= UNLIMITED ? undefined : n;
}

function pick(stat: Map<string, number>, ...keys: string[]): number {
  for (const k of keys) {
    const v = stat.get(k);
    if (v !== undefined) return v;
  }
  return 0;
}

/**
 * Reads the stats of the cgroup at `dir` (absolute within each hierarchy, as returned by
 * {@linkcode cgroupDir}).
 *
 * @returns The stats, or undefined when the cgroup exists in no hierarchy (not created yet,
 * or already removed).
 */
export async function readCgroupStats(
  layout: CgroupLayout,
  dir: string,
  options: ReadCgroupStatsOptions = {},
): Promise<CgroupStats | undefined> {
  const fs = options.fs ?? denoCgroupFs;
  const path = (controller: string, file: string) => {
    const base = controllerVersion(layout, controller) === 1 ? layout.v1[controller] : layout.v2;
    return `${base}${dir === "/" ? "" : dir}/${file}`;
  };
  const read = (controller: string, file: string) => fs.readTextFile(path(controller, file));
  const [cpu, memory, pids] = await Promise.all([
    readCpu(layout, read),
    readMemory(layout, read),
    readPids(layout, read),
  ]);
  if (!cpu && !memory && !pids) return undefined;
  const stats: CgroupStats = {};
  if (cpu) stats.cpu = cpu;
  if (memory) stats.memory = memory;
  if (pids) stats.pids = pids;
  return stats;
}

type Read = (controller: string, file: string) => Promise<string | undefined>;

async function readCpu(layout: CgroupLayout, read: Read): Promise<CgroupStats["cpu"]> {
  if (layout.v1["cpuacct"]) {
    const text = (await read("cpuacct", "cpuacct.usage"))?.trim();
    return text && /^\d+$/.test(text) ? { usageNs: BigInt(text) } : undefined;
  }
  // cpu.stat exists in every v2 cgroup, with or without the cpu controller.
  if (layout.v2) {
    const text = await read("cpu", "cpu.stat");
    const usec = text === undefined ? undefined : /^usage_usec (\d+)$/m.exec(text)?.[1];
    return usec === undefined ? undefined : { usageNs: BigInt(usec) * 1000n };
  }
  return undefined;
}

async function readMemory(layout: CgroupLayout, read: Read): Promise<MemoryStats | undefined> {
  const version = controllerVersion(layout, "memory");
  if (version === 1) {
    const [usageText, statText, limitText, memswLimitText] = await Promise.all([
      read("memory", "memory.usage_in_bytes"),
      read("memory", "memory.stat"),
      read("memory", "memory.limit_in_bytes"),
      read("memory", "memory.memsw.limit_in_bytes"),
    ]);
    const usage = num(usageText);
    if (usage === undefined || statText === undefined) return undefined;
    const stat = parseFlatKeyed(statText);
    const inactive = pick(stat, "total_inactive_file", "inactive_file");
    const memLimit = limit(limitText);
    const out: MemoryStats = {
      usageBytes: usage,
      workingSetBytes: Math.max(0, usage - inactive),
      rssBytes: pick(stat, "total_rss", "rss"),
      pageFaults: pick(stat, "total_pgfault", "pgfault"),
      majorPageFaults: pick(stat, "total_pgmajfault", "pgmajfault"),
    };
    if (memLimit !== undefined) out.limitBytes = memLimit;
    // memory.stat has "swap" only with swap accounting (memsw files present).
    if (memswLimitText !== undefined && (stat.has("total_swap") || stat.has("swap"))) {
      const memswLimit = limit(memswLimitText);
      out.swap = { usageBytes: pick(stat, "total_swap", "swap") };
      if (memswLimit !== undefined && memLimit !== undefined) {
        out.swap.limitBytes = Math.max(0, memswLimit - memLimit);
      }
    }
    return out;
  }
  if (version === 2) {
    const [usageText, statText, maxText, swapText, swapMaxText] = await Promise.all([
      read("memory", "memory.current"),
      read("memory", "memory.stat"),
      read("memory", "memory.max"),
      read("memory", "memory.swap.current"),
      read("memory", "memory.swap.max"),
    ]);
    const usage = num(usageText);
    if (usage === undefined || statText === undefined) return undefined;
    const stat = parseFlatKeyed(statText);
    const out: MemoryStats = {
      usageBytes: usage,
      workingSetBytes: Math.max(0, usage - pick(stat, "inactive_file")),
      rssBytes: pick(stat, "anon"),
      pageFaults: pick(stat, "pgfault"),
      majorPageFaults: pick(stat, "pgmajfault"),
    };
    const max = limit(maxText);
    if (max !== undefined) out.limitBytes = max;
    const swapUsage = num(swapText);
    if (swapUsage !== undefined) {
      out.swap = { usageBytes: swapUsage };
      const swapMax = limit(swapMaxText);
      if (swapMax !== undefined) out.swap.limitBytes = swapMax;
    }
    return out;
  }
  return undefined;
}

async function readPids(layout: CgroupLayout, read: Read): Promise<CgroupStats["pids"]> {
  if (!controllerVersion(layout, "pids")) return undefined;
  const current = num(await read("pids", "pids.current"));
  return current === undefined ? undefined : { current };
}

/**
 * Adds up the stats of several cgroups (a pod without a cgroup of its own: its infra and
 * containers). A part is present when any input has it; limits are dropped.
 */
export function sumCgroupStats(all: readonly CgroupStats[]): CgroupStats | undefined {
  if (all.length === 0) return undefined;
  const out: CgroupStats = {};
  for (const s of all) {
    if (s.cpu) out.cpu = { usageNs: (out.cpu?.usageNs ?? 0n) + s.cpu.usageNs };
    if (s.pids) out.pids = { current: (out.pids?.current ?? 0) + s.pids.current };
    if (s.memory) {
      const m = out.memory;
      out.memory = {
        usageBytes: (m?.usageBytes ?? 0) + s.memory.usageBytes,
        workingSetBytes: (m?.workingSetBytes ?? 0) + s.memory.workingSetBytes,
        rssBytes: (m?.rssBytes ?? 0) + s.memory.rssBytes,
        pageFaults: (m?.pageFaults ?? 0) + s.memory.pageFaults,
        majorPageFaults: (m?.majorPageFaults ?? 0) + s.memory.majorPageFaults,
      };
    }
  }
  return out;
}
