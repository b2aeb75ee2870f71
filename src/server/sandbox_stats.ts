/**
 * PodSandboxStats: a pod's CPU, memory and process count from its cgroup, network counters
 * from its network namespace (`/proc/<pid>/net/dev` of the infra process, or of a running
 * container in a pod without one, else `net/dev` read inside the pinned netns file on the main
 * thread: see `StatsCollector.netDev`), and its containers' stats. Files only; no process is
 * spawned.
 *
 * The pod's cgroup is its cgroup parent (the kubelet's `/kubepods/.../pod<uid>` or slice),
 * which holds the infra and every container. A pod run without a cgroup parent has no cgroup
 * of its own: its CPU, memory and processes are then the sum of its infra's and containers'.
 * A pod that is not ready reports its attributes and containers only.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { type CgroupStats, parentDir, sumCgroupStats } from "../cgroups/mod.ts";
import { cgroupsPath } from "../spec/cgroup.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import {
  type ContainerStatsDeps,
  containerStatsOf,
  toCpuUsage,
  toMemoryUsage,
} from "./container_stats.ts";

/** What PodSandboxStats uses. */
export type PodSandboxStatsDeps = ContainerStatsDeps;

/** The interface the CRI reports as the pod's default one. */
const DEFAULT_INTERFACE = "eth0";

/** Answers PodSandboxStats. */
export async function podSandboxStats(
  deps: PodSandboxStatsDeps,
  req: cri.PodSandboxStatsRequest,
): Promise<cri.PodSandboxStatsResponseInit> {
  if (!req.pod_sandbox_id) throw new InvalidArgumentError("Missing pod_sandbox_id");
  const sandbox = deps.sandboxes.get(req.pod_sandbox_id);
  return { stats: await sandboxStatsOf(deps, sandbox) };
}

/** One interface's counters from `/proc/net/dev`. */
export interface NetDevEntry {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/**
 * Parses `/proc/<pid>/net/dev` (two header lines, then `name: 8 receive and 8 transmit
 * counters`).
 */
export function parseNetDev(text: string): NetDevEntry[] {
  const out: NetDevEntry[] = [];
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (!name || f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    out.push({
      name,
      rxBytes: f[0]!,
      rxPackets: f[1]!,
      rxErrors: f[2]!,
      rxDropped: f[3]!,
      txBytes: f[8]!,
      txPackets: f[9]!,
      txErrors: f[10]!,
      txDropped: f[11]!,
    });
  }
  return out;
}

function toInterfaceUsage(e: NetDevEntry): cri.NetworkInterfaceUsageInit {
  return {
    name: e.name,
    rx_bytes: { value: String(e.rxBytes) },
    rx_errors: { value: String(e.rxErrors) },
    tx_bytes: { value: String(e.txBytes) },
    tx_errors: { value: String(e.txErrors) },
  };
}

/**
 * The CRI network usage of a pod's interface counters: `eth0` as the default interface, or the
 * first one when a CNI plugin named it otherwise; undefined without any. The kubelet reads
 * `default_interface` of every network usage it gets without a nil check (its stats from CRI).
 */
function networkUsage(
  deps: PodSandboxStatsDeps,
  entries: NetDevEntry[],
): cri.NetworkUsageInit | undefined {
  const main = entries.find((e) => e.name === DEFAULT_INTERFACE) ?? entries[0];
  if (!main) return undefined;
  return {
    timestamp: deps.stats.now().toString(),
    default_interface: toInterfaceUsage(main),
    interfaces: entries.map(toInterfaceUsage),
  };
}

/**
 * The counters of each interface of a pod's namespace but `lo`, or undefined with host
 * networking, or when neither a process nor the pinned namespace file gives them.
 */
export async function podNetDev(
  deps: PodSandboxStatsDeps,
  sandbox: SandboxRecord,
): Promise<NetDevEntry[] | undefined> {
  const netns = sandbox.metadata.netnsPath;
  if (!netns) return undefined;
  // Any process in the pod's netns shows its counters: the infra process, else (a pod without
  // one) a running container of the pod; with neither, the netns file itself (in-process).
  const pid = sandbox.status.pid > 0
    ? sandbox.status.pid
    : (deps.containers.list().find((c) =>
      c.metadata.sandboxId === sandbox.id && c.status.state === "CONTAINER_RUNNING" &&
      c.status.pid > 0
    )?.status.pid ?? 0);
  const text = await deps.stats.netDev({ pid, netns });
  if (text === undefined) return undefined;
  return parseNetDev(text).filter((e) => e.name !== "lo");
}

/** The stats of the pod's cgroup, or of its infra and containers added up. */
async function podCgroupStats(
  deps: PodSandboxStatsDeps,
  sandbox: SandboxRecord,
): Promise<CgroupStats | undefined> {
  const parent = sandbox.metadata.cgroupParent;
  if (parent && parent !== "/") {
    return await deps.stats.cgroup(parentDir(parent, deps.config.cgroupManager));
  }
  const infraDir = await deps.stats.cgroupDirOf(sandbox.id, {
    bundle: sandbox.metadata.bundle,
    fallback: () => cgroupsPath("", sandbox.id, { manager: deps.config.cgroupManager }),
  });
  const dirs = [infraDir];
  for (const c of deps.containers.list()) {
    if (c.metadata.sandboxId !== sandbox.id || c.status.state === "CONTAINER_EXITED") continue;
    dirs.push(
      await deps.stats.cgroupDirOf(c.id, {
        bundle: c.metadata.bundle,
        fallback: () => cgroupsPath("", c.id, { manager: deps.config.cgroupManager }),
      }),
    );
  }
  const all = await Promise.all(dirs.map((d) => deps.stats.cgroup(d)));
  return sumCgroupStats(all.filter((s): s is CgroupStats => s !== undefined));
}

/** The CRI stats of one pod sandbox. */
export async function sandboxStatsOf(
  deps: PodSandboxStatsDeps,
  sandbox: SandboxRecord,
  /** The pod's interface counters when the caller reads them too (ListPodSandboxMetrics). */
  netDev?: Promise<NetDevEntry[] | undefined>,
): Promise<cri.PodSandboxStatsInit> {
  const config = sandbox.metadata.config;
  const containers = deps.containers.list().filter((c) => c.metadata.sandboxId === sandbox.id);
  const ready = sandbox.status.state === "SANDBOX_READY";
  const [containerStats, cgroup, network] = await Promise.all([
    Promise.all(containers.map((c) => containerStatsOf(deps, c))),
    ready ? podCgroupStats(deps, sandbox) : undefined,
    ready
      ? (netDev ?? podNetDev(deps, sandbox)).then((e) => e && networkUsage(deps, e))
      : undefined,
  ]);
  const at = deps.stats.now();
  const linux: cri.LinuxPodSandboxStatsInit = { containers: containerStats };
  if (cgroup?.cpu) linux.cpu = toCpuUsage(deps.stats, sandbox.id, { at, cpu: cgroup.cpu });
  if (cgroup?.memory) linux.memory = toMemoryUsage(at, cgroup.memory);
  if (cgroup?.pids) {
    linux.process = {
      timestamp: at.toString(),
      process_count: { value: String(cgroup.pids.current) },
    };
  }
  if (network) linux.network = network;
  return {
    attributes: {
      id: sandbox.id,
      metadata: config.metadata,
      labels: config.labels ?? {},
      annotations: config.annotations ?? {},
    },
    linux,
  };
}
