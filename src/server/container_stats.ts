/**
 * ContainerStats: a container's CPU, memory, swap and writable-layer usage, read from its
 * cgroup files and the image service's writable-layer usage; no process is spawned.
 *
 * Also home of what every stats RPC shares: the {@linkcode StatsCollector} (cgroup layout,
 * cgroup directories, previous CPU samples for `usage_nano_cores`, a short-lived cache of the
 * writable-layer walk) and {@linkcode containerStatsOf}.
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import {
  cgroupDir,
  type CgroupFs,
  type CgroupLayout,
  type CgroupStats,
  CpuRate,
  detectCgroupLayout,
  readCgroupStats,
} from "../cgroups/mod.ts";
import { cgroupsPath } from "../spec/cgroup.ts";
import type { WritableLayerUsage } from "../image/rootfs.ts";
import type { ContainerRecord } from "../store/container.ts";
import { type CadvisorCounters, openFiles, readCadvisorCounters } from "../cgroups/cadvisor.ts";
import type { NetnsReader } from "../sys/netns_pinner.ts";
import type { Deps } from "./deps.ts";
import { nowNs } from "./time.ts";

/** Options of {@linkcode StatsCollector}. */
export interface StatsCollectorOptions {
  /** The cgroup mounts. @default detected from /proc/self/mountinfo on first use */
  layout?: CgroupLayout;
  /** Cgroup file access. @default denoCgroupFs */
  fs?: CgroupFs;
  /** How long a writable-layer walk is reused. @default 5000 */
  writableLayerTtlMs?: number;
  /** See {@linkcode CpuRate}. @default 100 */
  minCpuIntervalMs?: number;
  /** Now, in ns since the epoch. @default nowNs */
  now?: () => bigint;
  /** Where procfs is mounted (for `<proc>/<pid>/net/dev`). @default "/proc" */
  procDir?: string;
  /**
   * Reads `net/dev` inside a pod's pinned netns when no process is in it. Absent (namespaces
   * made by programs, OCID_NETNS=exec: no FFI to enter a netns with), such a pod has no
   * network counters. @default none
   */
  netnsReader?: NetnsReader;
}

/** The state the stats RPCs keep between calls, and their file reading. One per daemon. */
export class StatsCollector {
  /** Previous CPU samples, by container or pod ID. */
  readonly cpu: CpuRate;
  #images: Pick<Deps["images"], "writableLayerUsage">;
  #layout: Promise<CgroupLayout> | undefined;
  #fs: CgroupFs | undefined;
  #ttlMs: number;
  #now: () => bigint;
  #procDir: string;
  #netnsReader: NetnsReader | undefined;
  #dirs = new Map<string, string>();
  #layers: { at: number; byId: Promise<Map<string, WritableLayerUsage>> } | undefined;

  constructor(
    images: Pick<Deps["images"], "writableLayerUsage">,
    options: StatsCollectorOptions = {},
  ) {
    this.#images = images;
    if (options.layout) this.#layout = Promise.resolve(options.layout);
    this.#fs = options.fs;
    this.#ttlMs = options.writableLayerTtlMs ?? 5000;
    this.#now = options.now ?? (() => BigInt(nowNs()));
    this.#procDir = options.procDir ?? "/proc";
    this.#netnsReader = options.netnsReader;
    this.cpu = new CpuRate({ minIntervalMs: options.minCpuIntervalMs ?? 100 });
  }

  /** Now, in ns since the epoch. */
  now(): bigint {
    return this.#now();
  }

  /** The cgroup layout (detected once). */
  layout(): Promise<CgroupLayout> {
    return this.#layout ??= detectCgroupLayout();
  }

  /** The stats of the cgroup at `dir`, or undefined when it does not exist. */
  async cgroup(dir: string): Promise<CgroupStats | undefined> {
    return await readCgroupStats(await this.layout(), dir, this.#fs ? { fs: this.#fs } : {});
  }

  /** The cAdvisor counters of the cgroup at `dir` (ListPodSandboxMetrics). */
  async cadvisor(dir: string): Promise<CadvisorCounters> {
    return await readCadvisorCounters(await this.layout(), dir, this.#fs ? { fs: this.#fs } : {});
  }

  /** The open files and sockets of `pids` (`<proc>/<pid>/fd`). */
  openFiles(pids: readonly number[]): Promise<{ fds: number; sockets: number }> {
    return openFiles(pids, this.#procDir);
  }

  /**
   * The `net/dev` text of a pod's network namespace: `/proc/<pid>/net/dev` of a process in it
   * when there is one (no namespace change), else `/proc/thread-self/net/dev` read inside the
   * pinned `netns` file by the netns reader (a pod without an infra process and without a
   * running container, or whose process just ended). Without a reader such a pod has none.
   *
   * @param target A process in the netns (0: none) and the pinned netns file ("": none).
   * @returns undefined when neither gives the counters
   */
  async netDev(target: { pid: number; netns: string }): Promise<string | undefined> {
    if (target.pid > 0) {
      try {
        return await Deno.readTextFile(`${this.#procDir}/${target.pid}/net/dev`);
      } catch {
        // The process is gone: the namespace file may still be there.
      }
    }
    if (!target.netns || !this.#netnsReader) return undefined;
    return this.#netnsReader.readInNetns(target.netns, "/proc/thread-self/net/dev");
  }

  /**
   * The cgroup directory of a container or infra process: the `linux.cgroupsPath` of the
   * bundle's `config.json`, read once and remembered; `fallback` when the spec is unreadable.
   */
  async cgroupDirOf(id: string, options: { bundle: string; fallback: () => string }) {
    const known = this.#dirs.get(id);
    if (known !== undefined) return known;
    let path: string | undefined;
    try {
      const spec = JSON.parse(await Deno.readTextFile(join(options.bundle, "config.json")));
      if (typeof spec?.linux?.cgroupsPath === "string") path = spec.linux.cgroupsPath;
    } catch { /* unreadable: fall back */ }
    const dir = cgroupDir(path ?? options.fallback());
    this.#dirs.set(id, dir);
    return dir;
  }

  /**
   * The usage of a container's writable layer. The walk over every writable layer is
   * shared by concurrent callers and reused for the TTL, except by a container created after
   * the walk began (critest and kubelet ask for a new container's stats at once): that gets a
   * new walk.
   *
   * @param id The container's ID.
   * @param createdAtMs When the container was created (ms since the epoch). @default 0
   */
  async writableLayer(id: string, createdAtMs = 0): Promise<WritableLayerUsage | undefined> {
    const now = Date.now();
    const current = this.#layers;
    if (!current || now - current.at > this.#ttlMs || createdAtMs >= current.at) {
      const byId = this.#images.writableLayerUsage().then(
        (list) => new Map(list.map((l) => [l.containerId, l])),
      );
      this.#layers = { at: now, byId };
      byId.catch(() => {
        if (this.#layers?.byId === byId) this.#layers = undefined;
      });
    }
    return (await this.#layers!.byId).get(id);
  }

  /** Forgets CPU samples and cgroup directories of IDs not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    this.cpu.retain(keep);
    for (const id of this.#dirs.keys()) if (!keep.has(id)) this.#dirs.delete(id);
  }

  /** Forgets the CPU sample and cgroup directory of `id` (a container or pod just removed). */
  forget(id: string): void {
    this.cpu.forget(id);
    this.#dirs.delete(id);
  }
}

/** What ContainerStats uses. */
export type ContainerStatsDeps = Pick<Deps, "containers" | "sandboxes" | "config"> & {
  stats: StatsCollector;
};

/** Answers ContainerStats. */
export async function containerStats(
  deps: ContainerStatsDeps,
  req: cri.ContainerStatsRequest,
): Promise<cri.ContainerStatsResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  const container = deps.containers.get(req.container_id);
  return { stats: await containerStatsOf(deps, container) };
}

const u64 = (v: number | bigint) => ({ value: v.toString() });

/** The CRI CPU usage of cgroup stats; `key` names whose previous sample to compare with. */
export function toCpuUsage(
  stats: StatsCollector,
  key: string,
  sample: { at: bigint; cpu: NonNullable<CgroupStats["cpu"]> },
): cri.CpuUsageInit {
  const rate = stats.cpu.sample(key, { atNs: sample.at, usageNs: sample.cpu.usageNs });
  return {
    timestamp: sample.at.toString(),
    usage_core_nano_seconds: u64(sample.cpu.usageNs),
    ...(rate === undefined ? {} : { usage_nano_cores: u64(rate) }),
  };
}

/** The CRI memory usage of cgroup stats. */
export function toMemoryUsage(
  at: bigint,
  memory: NonNullable<CgroupStats["memory"]>,
): cri.MemoryUsageInit {
  return {
    timestamp: at.toString(),
    working_set_bytes: u64(memory.workingSetBytes),
    usage_bytes: u64(memory.usageBytes),
    rss_bytes: u64(memory.rssBytes),
    page_faults: u64(memory.pageFaults),
    major_page_faults: u64(memory.majorPageFaults),
    ...(memory.limitBytes === undefined
      ? {}
      : { available_bytes: u64(Math.max(0, memory.limitBytes - memory.workingSetBytes)) }),
  };
}

/**
 * The CRI stats of one container. CPU, memory and swap come from its cgroup while it has one
 * (created or running); an exited container reports its attributes and writable layer only.
 */
export async function containerStatsOf(
  deps: ContainerStatsDeps,
  container: ContainerRecord,
): Promise<cri.ContainerStatsInit> {
  const { config } = container.metadata;
  const out: cri.ContainerStatsInit = {
    attributes: {
      id: container.id,
      metadata: config.metadata,
      labels: config.labels ?? {},
      annotations: config.annotations ?? {},
    },
  };
  const [cgroup, layer] = await Promise.all([
    container.status.state === "CONTAINER_EXITED"
      ? undefined
      : readContainerCgroup(deps, container),
    deps.stats.writableLayer(
      container.id,
      Number(BigInt(container.metadata.createdAt) / 1_000_000n),
    ),
  ]);
  const at = deps.stats.now();
  if (cgroup?.cpu) out.cpu = toCpuUsage(deps.stats, container.id, { at, cpu: cgroup.cpu });
  if (cgroup?.memory) {
    out.memory = toMemoryUsage(at, cgroup.memory);
    const swap = cgroup.memory.swap;
    if (swap) {
      out.swap = {
        timestamp: at.toString(),
        swap_usage_bytes: u64(swap.usageBytes),
        ...(swap.limitBytes === undefined
          ? {}
          : { swap_available_bytes: u64(Math.max(0, swap.limitBytes - swap.usageBytes)) }),
      };
    }
  }
  if (layer) {
    out.writable_layer = {
      timestamp: at.toString(),
      fs_id: { mountpoint: `${deps.config.root}/containers` },
      used_bytes: u64(layer.usedBytes),
      inodes_used: u64(layer.inodesUsed),
    };
  }
  return out;
}

async function readContainerCgroup(
  deps: ContainerStatsDeps,
  container: ContainerRecord,
): Promise<CgroupStats | undefined> {
  return await deps.stats.cgroup(await containerCgroupDir(deps, container));
}

/** The cgroup directory of a container (as {@linkcode StatsCollector.cgroupDirOf}). */
export async function containerCgroupDir(
  deps: ContainerStatsDeps,
  container: ContainerRecord,
): Promise<string> {
  const { sandboxId, bundle } = container.metadata;
  const fallback = () => {
    const parent = deps.sandboxes.find(sandboxId)?.metadata.cgroupParent ?? "";
    return cgroupsPath(parent, container.id, { manager: deps.config.cgroupManager });
  };
  return await deps.stats.cgroupDirOf(container.id, { bundle, fallback });
}
