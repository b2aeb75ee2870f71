/**
 * Fixture cgroup trees in a temp dir, shaped like cgroup v1 hierarchies and a cgroup2 mount,
 * with the values the tests assert on. Shared by the cgroup and server stats unit tests.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type { CgroupLayout } from "../../../src/cgroups/mod.ts";

/** Writes `files` (path relative to `root` → content), creating directories. */
export async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const path = join(root, rel);
    await Deno.mkdir(dirname(path), { recursive: true });
    await Deno.writeTextFile(path, text);
  }
}

/** A v1 layout with blkio, cpu, cpuacct, memory and pids hierarchies under `root`. */
export function v1Layout(root: string): CgroupLayout {
  return {
    v1: {
      blkio: join(root, "blkio"),
      cpu: join(root, "cpu"),
      cpuacct: join(root, "cpuacct"),
      memory: join(root, "memory"),
      pids: join(root, "pids"),
    },
    v2: join(root, "unified"),
    v2Controllers: ["hugetlb"],
  };
}

/** A pure v2 layout mounted at `root`. */
export function v2Layout(root: string): CgroupLayout {
  return { v1: {}, v2: root, v2Controllers: ["cpu", "memory", "pids", "io"] };
}

/** The v1 memory.stat of a cgroup (own and hierarchical `total_*` values). */
export function v1MemoryStat(
  v: { inactiveFile: number; rss: number; pgfault: number; pgmajfault: number; swap?: number },
): string {
  const lines = [
    "cache 100",
    "rss 1",
    "inactive_file 2",
    "pgfault 3",
    "pgmajfault 4",
    `total_rss ${v.rss}`,
    `total_pgfault ${v.pgfault}`,
    `total_pgmajfault ${v.pgmajfault}`,
    `total_inactive_file ${v.inactiveFile}`,
    "hierarchical_memory_limit 9223372036854771712",
  ];
  if (v.swap !== undefined) lines.push("swap 0", `total_swap ${v.swap}`);
  return lines.join("\n") + "\n";
}

/** Writes the v1 files of cgroup `dir` (e.g. "/pod/ocid-abc"). */
export async function writeV1Cgroup(
  root: string,
  dir: string,
  v: {
    cpuNs: string;
    usage: number;
    inactiveFile: number;
    rss?: number;
    limit?: string;
    memswLimit?: string;
    swap?: number;
    pids?: number;
  },
): Promise<void> {
  await writeTree(root, {
    [`cpuacct${dir}/cpuacct.usage`]: `${v.cpuNs}\n`,
    [`memory${dir}/memory.usage_in_bytes`]: `${v.usage}\n`,
    [`memory${dir}/memory.limit_in_bytes`]: `${v.limit ?? "9223372036854771712"}\n`,
    [`memory${dir}/memory.stat`]: v1MemoryStat({
      inactiveFile: v.inactiveFile,
      rss: v.rss ?? 4096,
      pgfault: 1000,
      pgmajfault: 7,
      ...(v.swap === undefined ? {} : { swap: v.swap }),
    }),
    ...(v.memswLimit === undefined
      ? {}
      : { [`memory${dir}/memory.memsw.limit_in_bytes`]: `${v.memswLimit}\n` }),
    [`pids${dir}/pids.current`]: `${v.pids ?? 3}\n`,
  });
}

/** Writes the v2 files of cgroup `dir`. */
export async function writeV2Cgroup(
  root: string,
  dir: string,
  v: {
    usageUsec: number;
    current: number;
    inactiveFile: number;
    max?: string;
    swap?: number;
    swapMax?: string;
  },
): Promise<void> {
  await writeTree(root, {
    [`${dir}/cpu.stat`]:
      `usage_usec ${v.usageUsec}\nuser_usec 10\nsystem_usec 5\nnr_periods 0\nnr_throttled 0\n`,
    [`${dir}/memory.current`]: `${v.current}\n`,
    [`${dir}/memory.max`]: `${v.max ?? "max"}\n`,
    [`${dir}/memory.stat`]:
      `anon 8192\nfile 40960\nactive_file 100\ninactive_file ${v.inactiveFile}\n` +
      `pgfault 500\npgmajfault 2\n`,
    ...(v.swap === undefined ? {} : {
      [`${dir}/memory.swap.current`]: `${v.swap}\n`,
      [`${dir}/memory.swap.max`]: `${v.swapMax ?? "max"}\n`,
    }),
    [`${dir}/pids.current`]: "5\n",
  });
}
