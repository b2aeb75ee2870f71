/**
 * The counters of a cgroup that cAdvisor reports and the CRI's ListPodSandboxMetrics carries
 * beyond the CRI stats (`stats.ts`): CPU time by mode and CFS throttling, the cgroup's limits
 * (`container_spec_*`), page cache, mapped files, kernel memory, peak usage, limit hits, OOM
 * kills, threads and the thread limit, block I/O per device, and the processes in the cgroup
 * (whose open files and sockets cAdvisor counts). Read from files, for cgroup v1 and v2; nothing
 * is spawned. A counter whose file is missing is absent, and the caller reports it as cAdvisor
 * does (0).
 *
 * | counter              | v1                                         | v2                          |
 * |----------------------|--------------------------------------------|-----------------------------|
 * | user, system time    | `cpuacct.stat` (USER_HZ ticks)             | `cpu.stat` user/system_usec |
 * | CFS periods          | `cpu.stat` nr_periods, nr_throttled, throttled_time (ns) | `cpu.stat` ..., throttled_usec |
 * | CPU period, quota, shares | `cpu.cfs_{period,quota}_us`, `cpu.shares` | `cpu.max`, `cpu.weight`   |
 * | memory limit, swap   | `memory.limit_in_bytes`, `memory.memsw.limit_in_bytes` | `memory.max`, `memory.swap.max` |
 * | memory reservation   | `memory.soft_limit_in_bytes`               | `memory.low`                |
 * | cache, mapped        | `memory.stat` total_cache, total_mapped_file | `memory.stat` file, file_mapped |
 * | kernel memory        | `memory.kmem.usage_in_bytes`               | `memory.stat` kernel (or kernel_stack + slab + pagetables) |
 * | peak, limit hits     | `memory.max_usage_in_bytes`, `memory.failcnt` | `memory.peak`, `memory.events` max |
 * | OOM kills            | `memory.oom_control` oom_kill              | `memory.events` oom_kill    |
 * | threads, max         | `tasks` lines, `pids.max`                  | `cgroup.threads`, `pids.max` |
 * | block I/O            | `blkio.throttle.io_service{d,_bytes}_recursive` | `io.stat`              |
 *
 * @module
 */
import { type CgroupLayout, controllerVersion } from "./layout.ts";
import { type CgroupFs, denoCgroupFs, parseFlatKeyed } from "./stats.ts";

/** USER_HZ, the unit of `cpuacct.stat` (100 on every Linux architecture Kubernetes runs on). */
const USER_HZ = 100;

/** Values at or above this are "no limit" (v1 reports PAGE_COUNTER_MAX × page size). */
const UNLIMITED = 2 ** 60;

/** One block device's I/O. */
export interface BlockIo {
  major: number;
  minor: number;
  readBytes: number;
  writeBytes: number;
  reads: number;
  writes: number;
}

/** What {@linkcode readCadvisorCounters} finds; each part absent when its files are. */
export interface CadvisorCounters {
  cpu?: {
    userSeconds: number;
    systemSeconds: number;
    periods: number;
    throttledPeriods: number;
    throttledSeconds: number;
  };
  /** The cgroup's limits; 0 where there is none (as cAdvisor reports it). */
  spec?: {
    cpuPeriod: number;
    cpuQuota: number;
    cpuShares: number;
    memoryLimit: number;
    memoryReservation: number;
    memorySwapLimit: number;
  };
  memory?: {
    cache: number;
    mappedFile: number;
    kernel: number;
    maxUsage: number;
    failcnt: number;
    oomKills: number;
  };
  threads?: { current: number; max: number };
  blockIo?: BlockIo[];
  /** The processes in the cgroup (not its threads). */
  pids?: number[];
}

/**
 * Reads the counters of the cgroup at `dir` (as {@linkcode readCgroupStats} takes it).
 *
 * @returns the counters found; an empty object for a cgroup that is gone
 */
export async function readCadvisorCounters(
  layout: CgroupLayout,
  dir: string,
  options: { fs?: CgroupFs } = {},
): Promise<CadvisorCounters> {
  const fs = options.fs ?? denoCgroupFs;
  const read = (controller: string, file: string) => {
    const version = controllerVersion(layout, controller);
    const base = version === 1 ? layout.v1[controller] : version === 2 ? layout.v2 : undefined;
    if (base === undefined) return Promise.resolve(undefined);
    return fs.readTextFile(`${base}${dir === "/" ? "" : dir}/${file}`).catch(() => undefined);
  };
  const v1 = (controller: string) => controllerVersion(layout, controller) === 1;
  const [cpu, spec, memory, threads, blockIo, pids] = await Promise.all([
    readCpu(read, v1("cpu") || v1("cpuacct")),
    readSpec(read, v1("cpu"), v1("memory")),
    readMemory(read, v1("memory")),
    readThreads(read, v1("pids")),
    readBlockIo(read, v1("blkio")),
    readPids(read),
  ]);
  const out: CadvisorCounters = {};
  if (cpu) out.cpu = cpu;
  if (spec) out.spec = spec;
  if (memory) out.memory = memory;
  if (threads) out.threads = threads;
  if (blockIo) out.blockIo = blockIo;
  if (pids) out.pids = pids;
  return out;
}

type Read = (controller: string, file: string) => Promise<string | undefined>;

function num(text: string | undefined): number | undefined {
  const t = text?.trim();
  return t !== undefined && /^\d+$/.test(t) ? Number(t) : undefined;
}

/** A limit file's value; 0 for none ("max", a huge value). */
function limitOrZero(text: string | undefined): number {
  const n = num(text);
  return n === undefined || n >= UNLIMITED ? 0 : n;
}

async function readCpu(read: Read, v1: boolean): Promise<CadvisorCounters["cpu"]> {
  const [statText, acctText] = await Promise.all([
    read("cpu", "cpu.stat"),
    v1 ? read("cpuacct", "cpuacct.stat") : undefined,
  ]);
  if (statText === undefined) return undefined;
  const stat = parseFlatKeyed(statText);
  const get = (k: string) => stat.get(k) ?? 0;
  if (v1) {
    const acct = parseFlatKeyed(acctText ?? "");
    return {
      userSeconds: (acct.get("user") ?? 0) / USER_HZ,
      systemSeconds: (acct.get("system") ?? 0) / USER_HZ,
      periods: get("nr_periods"),
      throttledPeriods: get("nr_throttled"),
      throttledSeconds: get("throttled_time") / 1e9,
    };
  }
  return {
    userSeconds: get("user_usec") / 1e6,
    systemSeconds: get("system_usec") / 1e6,
    periods: get("nr_periods"),
    throttledPeriods: get("nr_throttled"),
    throttledSeconds: get("throttled_usec") / 1e6,
  };
}

async function readSpec(
  read: Read,
  cpuV1: boolean,
  memoryV1: boolean,
): Promise<CadvisorCounters["spec"]> {
  const files = await Promise.all([
    cpuV1 ? read("cpu", "cpu.cfs_period_us") : undefined,
    cpuV1 ? read("cpu", "cpu.cfs_quota_us") : undefined,
    cpuV1 ? read("cpu", "cpu.shares") : undefined,
    cpuV1 ? undefined : read("cpu", "cpu.max"),
    cpuV1 ? undefined : read("cpu", "cpu.weight"),
    read("memory", memoryV1 ? "memory.limit_in_bytes" : "memory.max"),
    read("memory", memoryV1 ? "memory.soft_limit_in_bytes" : "memory.low"),
    read("memory", memoryV1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max"),
  ]);
  if (files.every((t) => t === undefined)) return undefined;
  const [period, quota, shares, cpuMax, weight, memLimit, reservation, swapLimit] = files;
  const w = num(weight);
  // cpu.max: "<quota|max> <period>"; cfs_quota_us: -1 for none.
  const [maxQuota, maxPeriod] = cpuMax?.trim().split(/\s+/) ?? [];
  return {
    cpuPeriod: cpuV1 ? num(period) ?? 0 : num(maxPeriod) ?? 0,
    cpuQuota: num(cpuV1 ? quota : maxQuota) ?? 0,
    // cgroup v2's weight back to v1 shares, as cAdvisor (and runc's conversion) does.
    cpuShares: cpuV1
      ? num(shares) ?? 0
      : w === undefined
      ? 0
      : 2 + Math.floor(((w - 1) * 262142) / 9999),
    memoryLimit: limitOrZero(memLimit),
    memoryReservation: limitOrZero(reservation),
    memorySwapLimit: limitOrZero(swapLimit),
  };
}

async function readMemory(read: Read, v1: boolean): Promise<CadvisorCounters["memory"]> {
  if (v1) {
    const [stat, kmem, max, failcnt, oom] = await Promise.all([
      read("memory", "memory.stat"),
      read("memory", "memory.kmem.usage_in_bytes"),
      read("memory", "memory.max_usage_in_bytes"),
      read("memory", "memory.failcnt"),
      read("memory", "memory.oom_control"),
    ]);
    if (stat === undefined) return undefined;
    const s = parseFlatKeyed(stat);
    return {
      cache: s.get("total_cache") ?? s.get("cache") ?? 0,
      mappedFile: s.get("total_mapped_file") ?? s.get("mapped_file") ?? 0,
      kernel: num(kmem) ?? 0,
      maxUsage: num(max) ?? 0,
      failcnt: num(failcnt) ?? 0,
      oomKills: parseFlatKeyed(oom ?? "").get("oom_kill") ?? 0,
    };
  }
  const [stat, peak, events] = await Promise.all([
    read("memory", "memory.stat"),
    read("memory", "memory.peak"),
    read("memory", "memory.events"),
  ]);
  if (stat === undefined) return undefined;
  const s = parseFlatKeyed(stat);
  const e = parseFlatKeyed(events ?? "");
  return {
    cache: s.get("file") ?? 0,
    mappedFile: s.get("file_mapped") ?? 0,
    kernel: s.get("kernel") ??
      (s.get("kernel_stack") ?? 0) + (s.get("slab") ?? 0) + (s.get("pagetables") ?? 0),
    maxUsage: num(peak) ?? 0,
    failcnt: e.get("max") ?? 0,
    oomKills: e.get("oom_kill") ?? 0,
  };
}

async function readThreads(read: Read, v1: boolean): Promise<CadvisorCounters["threads"]> {
  const [tasks, max] = await Promise.all([
    read("pids", v1 ? "tasks" : "cgroup.threads"),
    read("pids", "pids.max"),
  ]);
  if (tasks === undefined) return undefined;
  return { current: lines(tasks).length, max: limitOrZero(max) };
}

async function readPids(read: Read): Promise<number[] | undefined> {
  const procs = await read("pids", "cgroup.procs") ?? await read("memory", "cgroup.procs");
  return procs === undefined ? undefined : lines(procs).map(Number).filter((n) => n > 0);
}

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

async function readBlockIo(read: Read, v1: boolean): Promise<BlockIo[] | undefined> {
  const byDevice = new Map<string, BlockIo>();
  const device = (key: string) => {
    let d = byDevice.get(key);
    if (!d) {
      const [major = 0, minor = 0] = key.split(":").map(Number);
      d = { major, minor, readBytes: 0, writeBytes: 0, reads: 0, writes: 0 };
      byDevice.set(key, d);
    }
    return d;
  };
  if (v1) {
    const [bytes, ops] = await Promise.all([
      read("blkio", "blkio.throttle.io_service_bytes_recursive"),
      read("blkio", "blkio.throttle.io_serviced_recursive"),
    ]);
    if (bytes === undefined && ops === undefined) return undefined;
    for (const [text, r, w] of [[bytes, "readBytes", "writeBytes"], [ops, "reads", "writes"]]) {
      for (const line of lines(text ?? "")) {
        const [key, op, value] = line.split(/\s+/);
        if (!key?.includes(":") || !/^\d+$/.test(value ?? "")) continue;
        if (op === "Read") device(key)[r as "reads"] += Number(value);
        if (op === "Write") device(key)[w as "writes"] += Number(value);
      }
    }
    return [...byDevice.values()];
  }
  const stat = await read("io", "io.stat");
  if (stat === undefined) return undefined;
  for (const line of lines(stat)) {
    const [key, ...fields] = line.split(/\s+/);
    if (!key?.includes(":")) continue;
    const f = new Map(fields.map((kv) => kv.split("=") as [string, string]));
    const d = device(key);
    d.readBytes += Number(f.get("rbytes") ?? 0);
    d.writeBytes += Number(f.get("wbytes") ?? 0);
    d.reads += Number(f.get("rios") ?? 0);
    d.writes += Number(f.get("wios") ?? 0);
  }
  return [...byDevice.values()];
}

/**
 * The open files and sockets of `pids`, as cAdvisor counts them (`/proc/<pid>/fd` entries, and
 * those linking to `socket:[...]`). A process that ends meanwhile counts nothing.
 */
export async function openFiles(
  pids: readonly number[],
  procDir = "/proc",
): Promise<{ fds: number; sockets: number }> {
  let fds = 0;
  let sockets = 0;
  await Promise.all(pids.map(async (pid) => {
    const dir = `${procDir}/${pid}/fd`;
    try {
      const links: Promise<string | undefined>[] = [];
      for await (const e of Deno.readDir(dir)) {
        fds++;
        links.push(Deno.readLink(`${dir}/${e.name}`).catch(() => undefined));
      }
      for (const target of await Promise.all(links)) {
        if (target?.startsWith("socket:")) sockets++;
      }
    } catch {
      // Gone, or not ours to read.
    }
  }));
  return { fds, sockets };
}
