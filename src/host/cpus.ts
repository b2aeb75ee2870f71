/**
 * The CPUs and memory nodes this node has online (`/sys/devices/system/cpu/online`,
 * `/sys/devices/system/node/online`), in the kernel's list form (`0-3,5`), read when a request
 * names a cpuset: CPUs come and go with hotplug. A cpuset naming others fails in runc's write of
 * `cpuset.cpus` (EINVAL, as INTERNAL); the request is refused before anything is made instead.
 *
 * @module
 */

/** Reads the online lists. */
export interface OnlineReader {
  cpus(): string;
  mems(): string;
}

/** The node's own lists; a node without NUMA sysfs has memory node 0 only. */
export const sysfsOnline: OnlineReader = {
  cpus: () => Deno.readTextFileSync("/sys/devices/system/cpu/online").trim(),
  mems: () => {
    try {
      return Deno.readTextFileSync("/sys/devices/system/node/online").trim();
    } catch {
      return "0";
    }
  },
};

/**
 * The numbers of a kernel list (`0-3,5`); undefined when it is not one.
 *
 * @param list The list; "" is the empty set.
 */
export function parseCpuList(list: string): number[] | undefined {
  if (list === "") return [];
  const out: number[] = [];
  for (const part of list.split(",")) {
    const m = part.match(/^(\d+)(?:-(\d+))?$/);
    if (!m) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    // A range that runs backwards, or one too long to be CPUs, is not a list the kernel takes.
    if (to < from || to - from > 65_536) return undefined;
    for (let i = from; i <= to; i++) out.push(i);
  }
  return out;
}

/**
 * The first number of `requested` that `online` lacks; undefined when all are online (or either
 * list cannot be read as one: the runtime then decides).
 */
export function firstOffline(requested: string, online: string): number | undefined {
  const want = parseCpuList(requested);
  const have = parseCpuList(online);
  if (!want || !have) return undefined;
  const set = new Set(have);
  return want.find((n) => !set.has(n));
}
