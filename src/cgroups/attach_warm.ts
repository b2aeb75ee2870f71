/**
 * Warms the kernel's lock on moving processes between cgroups just before a runtime process
 * moves one, so that `runc create` and `runc exec` do not wait for an RCU grace period.
 *
 * Every write to a `cgroup.procs` file takes `cgroup_threadgroup_rwsem`, one lock for the whole
 * machine, for writing: runc writes the container's init into each of its cgroups at `create`,
 * and `runc exec` writes its process into the container's. The lock's fast path for forks and
 * exits comes back one grace period after the last writer leaves it, and the first writer after
 * that waits a whole grace period before it may move anything; a writer that comes while the
 * lock is still in its slow path does not wait. Measured on the test node (kernel 6.18, hybrid
 * cgroup v1, 2 CPUs), moving a process into a new cgroup half a second after the last move took
 * 6 to 20 ms; with a move begun 15 ms before it by another thread, 0.2 ms. Nearly all of that
 * wait sat inside runc, on the path of CreateContainer and ExecSync.
 *
 * {@linkcode AttachWarmer.warm} begins such a move when a create or an exec begins, off the JS
 * thread, so that the grace period passes while conmon and runc start; a create warms once
 * more when conmon is let run the runtime (the bundle is complete), as the lock's slow path
 * lasts only about a grace period past the last move and runc's own comes after its start-up.
 * The move is the
 * daemon's own: it writes its pid into the `cgroup.procs` of the cgroup it is in (read from
 * `/proc/self/cgroup` at each warm; cgroup2 when mounted, else the first v1 controller
 * hierarchy), which moves nothing. A pid that no process has would not do: the kernel looks the
 * process up before it takes the lock (checked on kernel 6.18). Were the daemon moved to another
 * cgroup of that hierarchy between the read and the write (microseconds), the write would move it
 * back; nothing here moves the daemon, and systemd moves a service's main process only as it
 * starts it.
 *
 * At most one warm runs at a time. Nothing is done when a cgroup mount has `favordynmods`,
 * which keeps the lock in its slow path for good (so moves never wait). The first failure
 * (a cgroup path that is not where `/proc/self/cgroup` says, as under some container
 * managers) turns warming off for the daemon's life, logged once: warming is never worth a
 * request's error.
 *
 * @module
 */
import { join } from "node:path";
import { type Logger, nullLogger } from "../log.ts";
import { type CgroupLayout, isUnifiedLine, parseProcCgroup } from "./layout.ts";

/** Begins a warm of the cgroup attach lock; see the module doc. */
export interface AttachWarmer {
  /** Begins a warm unless one is running or warming is off; never throws, never waits. */
  warm(): void;
}

/** A warmer that does nothing (unit tests, and runtimes given none). */
export const noAttachWarmer: AttachWarmer = { warm() {} };

/** The files an {@linkcode AttachWarmer} reads and writes. */
export interface AttachWarmerFs {
  readTextFile(path: string): Promise<string>;
  writeTextFile(path: string, data: string): Promise<void>;
}

/** {@linkcode AttachWarmerFs} on the real files. */
export const denoAttachWarmerFs: AttachWarmerFs = {
  readTextFile: (path) => Deno.readTextFile(path),
  writeTextFile: (path, data) => Deno.writeTextFile(path, data),
};

/** Options of {@linkcode createAttachWarmer}. */
export interface AttachWarmerOptions {
  /** The cgroup mounts (`detectCgroupLayout()`), or a promise of them. */
  layout: CgroupLayout | Promise<CgroupLayout>;
  /** The process moved onto its own cgroup. @default Deno.pid */
  pid?: number;
  /** `/proc/<pid>/cgroup` of that process. @default "/proc/self/cgroup" */
  procCgroupPath?: string;
  /** @default denoAttachWarmerFs */
  fs?: AttachWarmerFs;
  logger?: Logger;
}

/**
 * The `cgroup.procs` file of the cgroup a process is in, in one hierarchy: cgroup2 when it is
 * mounted and the process has a cgroup2 line, else the first line of a v1 hierarchy of a
 * controller `layout` has. Undefined when there is neither.
 *
 * @param layout Where the hierarchies are mounted.
 * @param procCgroup The text of `/proc/<pid>/cgroup` (`hierarchy-id:controllers:path` lines).
 * @example
 * ```ts
 * ownProcsFile({ v1: {}, v2: "/sys/fs/cgroup", v2Controllers: [] }, "0::/system.slice/ocid.service\n");
 * // "/sys/fs/cgroup/system.slice/ocid.service/cgroup.procs"
 * ```
 */
export function ownProcsFile(layout: CgroupLayout, procCgroup: string): string | undefined {
  const lines = parseProcCgroup(procCgroup);
  if (layout.v2) {
    const unified = lines.find(isUnifiedLine);
    if (unified) return join(layout.v2, unified.path, "cgroup.procs");
  }
  for (const l of lines) {
    const mount = l.controllers.split(",").map((c) => layout.v1[c]).find((m) => m);
    if (mount) return join(mount, l.path, "cgroup.procs");
  }
  return undefined;
}

/**
 * Creates the daemon's {@linkcode AttachWarmer}.
 *
 * @param options The cgroup mounts and seams.
 */
export function createAttachWarmer(options: AttachWarmerOptions): AttachWarmer {
  const fs = options.fs ?? denoAttachWarmerFs;
  const log = options.logger ?? nullLogger;
  const pid = options.pid ?? Deno.pid;
  const procCgroupPath = options.procCgroupPath ?? "/proc/self/cgroup";
  let running = false;
  let off = false;
  const once = async (): Promise<void> => {
    const layout = await options.layout;
    if (layout.favorDynmods) {
      off = true;
      log.debug("Cgroup attach warming is off: a cgroup mount has favordynmods");
      return;
    }
    const file = ownProcsFile(layout, await fs.readTextFile(procCgroupPath));
    if (file === undefined) throw new Error(`no mounted cgroup hierarchy in ${procCgroupPath}`);
    await fs.writeTextFile(file, String(pid));
  };
  return {
    warm() {
      if (running || off) return;
      running = true;
      once().catch((err) => {
        off = true;
        log.info("Cgroup attach warming is off", { error: err as Error });
      }).finally(() => {
        running = false;
      });
    },
  };
}
