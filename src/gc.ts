/**
 * The garbage sweep: finds what no record owns and removes it, logging each item. Runs at
 * start-up (after the stores are loaded, before any RPC is served) and on demand.
 *
 * What counts as owned: a loaded sandbox or container record, a sandbox being created now
 * (`isInFlight`), and, for an on-demand sweep, anything younger than `minAgeMs` (a container
 * being created has a dir before it has a record). A netns file's age is not judged: its mtime
 * is when the namespace was made, and sandboxes being created are in flight anyway. Everything else the daemon's layout can
 * hold is garbage:
 *
 * - conmon processes started by this daemon (`--exit-dir <runroot>/exits`) whose `-c <id>`
 *   names no record: SIGKILL;
 * - runtime state (`runc list`) without a record: kill, then delete;
 * - sandbox IDs that only leave traces -- `<root>/sandboxes/<id>/` without `sandbox.json`
 *   (the intent a crashed RunPodSandbox left), `<runroot>/sandboxes/<id>/` and its shm
 *   mount, `<runroot>/netns/<id>`, the pinned IPC/UTS namespaces `<runroot>/podns/<id>/`,
 *   `<root>/cni-cache/<id>.json`: CNI DEL (releases the IP allocation, with the cached config
 *   when there is one), netns, pinned namespaces and mounts removed, dirs removed, the default
 *   log dir `<pod log dir>/<id>` removed;
 * - container IDs with `<root>/containers/<id>/` (rootfs mount, bundle) or
 *   `<root>/containers-meta/<id>/` but no record: rootfs unmounted, dirs removed;
 * - exit files and attach socket dirs of unknown IDs;
 * - process and pid files of execs (ExecSync, streaming sessions; `<runroot>/exec`) of no exec
 *   in flight: a failed removal or a crash left them.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "./config/types.ts";
import { exists } from "./exists.ts";
import type { Logger } from "./log.ts";
import { mountPoints } from "./mounts.ts";
import type { NetnsManager, NetworkPlugin } from "./network/mod.ts";
import type { Runner } from "./process.ts";

/** What the sweep needs of the runtime. */
export interface GcRuntime {
  list(): Promise<{ id: string; status: string }[]>;
  kill(id: string, signal: string): Promise<void>;
  delete(id: string, opts: { force?: boolean }): Promise<void>;
}

/** A process as the sweep sees it. */
export interface ProcessInfo {
  pid: number;
  /** The kernel's short name (`/proc/<pid>/comm`). */
  comm: string;
  /** The command line. */
  args: string[];
}

/** The host operations the sweep uses; tests pass fakes. */
export interface GcHost {
  /** Entry names of a dir; [] when it does not exist. */
  readDir(path: string): Promise<{ name: string; isDirectory: boolean }[]>;
  /** Whether a path exists. */
  exists(path: string): Promise<boolean>;
  /** Modification time in ms since the epoch, undefined when gone. */
  mtimeMs(path: string): Promise<number | undefined>;
  /** Mount points at or below `prefix`, deepest first. */
  mounts(prefix: string): Promise<string[]>;
  /** Unmounts lazily. */
  unmount(path: string): Promise<void>;
  /** Removes a file or dir tree; no error when gone. */
  remove(path: string): Promise<void>;
  /** The processes on the host. */
  processes(): Promise<ProcessInfo[]>;
  /** Sends SIGKILL. */
  kill(pid: number): void;
}

/** What the sweep uses. */
export interface GcDeps {
  config: Pick<Config, "root" | "runroot" | "podLogDir">;
  log: Logger;
  runtime: GcRuntime;
  network: Pick<NetworkPlugin, "tearDown">;
  netns: Pick<NetnsManager, "remove">;
  images: { unmountRootfs(containerId: string): Promise<void> };
  /** Pods' pinned IPC/UTS namespaces (`src/sandbox/holder.ts`), by sandbox ID. */
  holders: { pinned: { list(): Promise<string[]>; unpin(id: string): Promise<void> } };
  sandboxes: { has(id: string): boolean };
  containers: { has(id: string): boolean };
  /** The execs' files (`src/oci/exec_files.ts`): their dir, and which are in use. */
  execFiles: { readonly dir: string; inUse(name: string): boolean };
}

/** Options of {@linkcode sweep}. */
export interface SweepOptions {
  /** Host operations. @default denoGcHost(runner) */
  host?: GcHost;
  /** Runner for the default host's unmount. @default none: the host must be given */
  runner?: Runner;
  /** IDs being created now (left alone). @default none */
  isInFlight?: (id: string) => boolean;
  /** Leave traces younger than this alone (on-demand sweeps). @default 0 */
  minAgeMs?: number;
  /** The clock. @default Date.now */
  now?: () => number;
}

/** One removed item. */
export interface GarbageItem {
  /** What it was: "conmon", "runtime-state", "sandbox", "container", "exit-file", ... */
  kind: string;
  id: string;
  /** The path or pid removed. */
  what: string;
}

/** What a sweep removed and what it could not. */
export interface SweepReport {
  removed: GarbageItem[];
  failed: (GarbageItem & { error: string })[];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Removes everything under the daemon's dirs, in the runtime and in the process table that no
 * record owns; see the module doc.
 *
 * @param deps the stores, runtime, network and image service
 * @param options the host operations and what to leave alone
 * @returns the removed items and the failures (a failure does not stop the sweep)
 */
export async function sweep(deps: GcDeps, options: SweepOptions = {}): Promise<SweepReport> {
  const host = options.host ?? denoGcHost(requireRunner(options.runner));
  const { root, runroot } = deps.config;
  const minAge = options.minAgeMs ?? 0;
  const now = options.now ?? Date.now;
  const inFlight = options.isInFlight ?? (() => false);
  const report: SweepReport = { removed: [], failed: [] };
  const log = deps.log;

  const owned = (id: string) => deps.sandboxes.has(id) || deps.containers.has(id) || inFlight(id);
  const young = async (path: string) => {
    if (minAge <= 0) return false;
    const t = await host.mtimeMs(path);
    return t !== undefined && now() - t < minAge;
  };
  const attempt = async (item: GarbageItem, fn: () => Promise<void>) => {
    try {
      await fn();
      report.removed.push(item);
      log.info("Garbage removed", { ...item });
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      report.failed.push({ ...item, error });
      log.warn("Cannot remove garbage", { ...item, error });
    }
  };

  const exitDir = join(runroot, "exits");
  const sandboxDir = join(root, "sandboxes");
  const runSandboxDir = join(runroot, "sandboxes");
  const netnsDir = join(runroot, "netns");
  const cniCacheDir = join(root, "cni-cache");
  const containerDir = join(root, "containers");
  const containerMetaDir = join(root, "containers-meta");
  const socketDir = join(runroot, "socket");

  // 1. conmon processes of this daemon monitoring nothing we know.
  for (const proc of await host.processes()) {
    if (proc.comm !== "conmon") continue;
    const exitAt = proc.args.indexOf("--exit-dir");
    if (exitAt < 0 || proc.args[exitAt + 1] !== exitDir) continue;
    const idAt = proc.args.indexOf("-c");
    const id = idAt < 0 ? "" : proc.args[idAt + 1] ?? "";
    if (id === "" || owned(id)) continue;
    if (proc.args.includes("-e") || proc.args.includes("--exec")) continue; // an exec ends itself
    await attempt({ kind: "conmon", id, what: `pid ${proc.pid}` }, () => {
      host.kill(proc.pid);
      return Promise.resolve();
    });
  }

  // 2. Runtime state without a record.
  let states: { id: string; status: string }[] = [];
  try {
    states = await deps.runtime.list();
  } catch (err) {
    report.failed.push({ kind: "runtime-state", id: "", what: "list", error: String(err) });
  }
  for (const state of states) {
    if (owned(state.id)) continue;
    if (minAge > 0 && await young(join(containerDir, state.id))) continue;
    if (minAge > 0 && await young(join(sandboxDir, state.id))) continue;
    await attempt({ kind: "runtime-state", id: state.id, what: state.status }, async () => {
      await deps.runtime.kill(state.id, "KILL").catch(() => {});
      await deps.runtime.delete(state.id, { force: true });
    });
  }

  // 3. Sandbox traces.
  const sandboxIds = new Map<string, string[]>();
  const note = (id: string, path: string) => {
    if (!ID.test(id) || owned(id)) return;
    sandboxIds.set(id, [...(sandboxIds.get(id) ?? []), path]);
  };
  for (const e of await host.readDir(sandboxDir)) {
    if (!e.isDirectory) continue;
    const path = join(sandboxDir, e.name);
    // A record file that exists but could not be loaded stays for inspection (the store
    // logged it); its resources still go.
    if (await host.exists(join(path, "sandbox.json"))) note(e.name, "");
    else note(e.name, path);
  }
  for (const e of await host.readDir(runSandboxDir)) note(e.name, join(runSandboxDir, e.name));
  for (const e of await host.readDir(netnsDir)) {
    if (!e.isDirectory) note(e.name, join(netnsDir, e.name));
  }
  for (const e of await host.readDir(cniCacheDir)) {
    const m = /^(.+)\.json$/.exec(e.name);
    if (m?.[1]) note(m[1], join(cniCacheDir, e.name));
  }
  for (const id of await deps.holders.pinned.list()) note(id, join(runroot, "podns", id));
  for (const [id, paths] of sandboxIds) {
    if (minAge > 0) {
      // A pinned netns file's mtime is its namespace inode's birth and cannot be set back;
      // it says nothing the other traces do not (a sandbox in creation is in flight).
      const dated = paths.filter((p) => p !== "" && p !== join(netnsDir, id));
      const ages = await Promise.all(dated.map(young));
      if (ages.some((y) => y)) continue;
    }
    await attempt({ kind: "sandbox", id, what: paths.filter((p) => p).join(", ") }, async () => {
      const netnsPath = join(netnsDir, id);
      await deps.network.tearDown({ id, netnsPath, podName: "", podNamespace: "", podUid: "" });
      await deps.netns.remove(netnsPath);
      await deps.holders.pinned.unpin(id);
      for (const point of await host.mounts(join(runSandboxDir, id))) await host.unmount(point);
      await host.remove(join(runSandboxDir, id));
      if (paths.includes(join(sandboxDir, id))) await host.remove(join(sandboxDir, id));
      await host.remove(join(deps.config.podLogDir, id));
    });
  }

  // 4. Container traces.
  const containerIds = new Set<string>();
  for (const e of await host.readDir(containerDir)) {
    if (e.isDirectory && ID.test(e.name) && !owned(e.name)) containerIds.add(e.name);
  }
  const metaOrphans = new Set<string>();
  for (const e of await host.readDir(containerMetaDir)) {
    if (!e.isDirectory || !ID.test(e.name) || owned(e.name)) continue;
    if (!(await host.exists(join(containerMetaDir, e.name, "container.json")))) {
      metaOrphans.add(e.name);
    }
  }
  for (const id of new Set([...containerIds, ...metaOrphans])) {
    const dir = join(containerDir, id);
    if (await young(dir) || await young(join(containerMetaDir, id))) continue;
    await attempt({ kind: "container", id, what: dir }, async () => {
      if (containerIds.has(id)) {
        await deps.images.unmountRootfs(id);
        for (const point of await host.mounts(dir)) await host.unmount(point);
        await host.remove(dir);
      }
      if (metaOrphans.has(id)) await host.remove(join(containerMetaDir, id));
    });
  }

  // 5. Exit files and attach socket dirs of IDs nobody knows.
  for (const e of await host.readDir(exitDir)) {
    if (owned(e.name) || await young(join(exitDir, e.name))) continue;
    const path = join(exitDir, e.name);
    await attempt({ kind: "exit-file", id: e.name, what: path }, () => host.remove(path));
  }
  for (const e of await host.readDir(socketDir)) {
    // conmon makes these symlinks to the bundle (short socket paths).
    if (owned(e.name) || await young(join(socketDir, e.name))) continue;
    const path = join(socketDir, e.name);
    await attempt({ kind: "socket-dir", id: e.name, what: path }, () => host.remove(path));
  }

  // 6. Temp files of CNI cache writes cut short by a crash (`.<id>.json.<n>.tmp`).
  for (const e of await host.readDir(cniCacheDir)) {
    if (!e.name.startsWith(".") || !e.name.endsWith(".tmp")) continue;
    const path = join(cniCacheDir, e.name);
    if (await young(path)) continue;
    await attempt({ kind: "temp-file", id: e.name, what: path }, () => host.remove(path));
  }

  // 7. The files of execs (ExecSync and streaming sessions) that no exec in flight owns. Not
  // judged by age: an exec may run for hours, and the daemon knows exactly which are its own.
  for (const e of await host.readDir(deps.execFiles.dir)) {
    if (deps.execFiles.inUse(e.name)) continue;
    const path = join(deps.execFiles.dir, e.name);
    await attempt({ kind: "exec-file", id: e.name, what: path }, () => host.remove(path));
  }

  log.info("Garbage sweep done", { removed: report.removed.length, failed: report.failed.length });
  return report;
}

function requireRunner(runner: Runner | undefined): Runner {
  if (!runner) throw new TypeError("sweep() needs options.host or options.runner");
  return runner;
}

/** The real host: /proc, the mount table, `umount -l` through `runner`. */
export function denoGcHost(runner: Runner): GcHost {
  return {
    async readDir(path) {
      const out: { name: string; isDirectory: boolean }[] = [];
      try {
        for await (const e of Deno.readDir(path)) {
          out.push({ name: e.name, isDirectory: e.isDirectory });
        }
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      return out.sort((a, b) => a.name.localeCompare(b.name));
    },
    exists,
    async mtimeMs(path) {
      const st = await Deno.lstat(path).catch(() => undefined);
      return st?.mtime?.getTime();
    },
    mounts: (prefix) => mountPoints(prefix),
    async unmount(path) {
      await runner.run("umount", ["-l", path]);
    },
    async remove(path) {
      await Deno.remove(path, { recursive: true }).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
    },
    async processes() {
      const out: ProcessInfo[] = [];
      for await (const e of Deno.readDir("/proc")) {
        if (!/^\d+$/.test(e.name)) continue;
        const pid = Number(e.name);
        const comm = (await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "")).trim();
        if (comm === "") continue;
        const cmdline = comm === "conmon"
          ? await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "")
          : "";
        out.push({ pid, comm, args: cmdline.split("\0").filter((a) => a !== "") });
      }
      return out;
    },
    kill(pid) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    },
  };
}
