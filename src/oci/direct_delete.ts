/**
 * Deleting a stopped runc container without running runc. What `runc delete` does for a
 * container whose init has ended (`libcontainer`'s `destroy`, the same steps in the same order
 * from runc 1.1 to 1.3) is: SIGKILL what is left in its cgroup when it shares a PID namespace,
 * remove its cgroups (an `rmdir` per hierarchy), remove its Intel RDT group, remove its state dir
 * (`<root>/<id>`) and run its `poststop` hooks. The state's shape read here is runc 1.1.5's (the
 * only runc on the machines this was run on); a state of another shape goes to runc.
 * For a container in a PID namespace of its own, without Intel RDT, `poststop` hooks or
 * systemd-managed cgroups, that is a few `rmdir`s and the removal of a dir, done here, in the
 * daemon: no process is spawned after every exit (the Go binary's start alone costs a few
 * milliseconds, and ran beside the next RPC, a StopPodSandbox's CNI DEL in kubelet's order).
 *
 * Everything else is left to `runc delete` ({@linkcode deleteStopped} answers undefined): a state
 * this code does not know the shape of, an init still alive (`--force` kills it first), the
 * cases above, and a cgroup that cannot be removed at once (runc retries while its last processes
 * are being reaped, and removes the sub-cgroups a container made). Nothing is removed before the
 * checks pass, and the state dir goes last, so that runc, called after a partial removal, still
 * finds the container and finishes the job.
 *
 * @module
 */
import { join } from "node:path";
import { crashPoint } from "../crash.ts";
import { hasEnded, readProcStat } from "./proc_stat.ts";

/** The parts of runc's `state.json` read here. */
interface RuncState {
  init_process_pid?: unknown;
  init_process_start?: unknown;
  rootless?: unknown;
  cgroup_paths?: unknown;
  intel_rdt_path?: unknown;
  config?: {
    namespaces?: unknown;
    Hooks?: unknown;
    cgroups?: { Systemd?: unknown } | null;
  } | null;
}

/**
 * The cgroup dirs of a stopped container that can be deleted here, or undefined when `runc delete`
 * must do it (see the module doc).
 */
export function directlyDeletable(state: RuncState): string[] | undefined {
  const config = state.config;
  if (!config || state.rootless !== false) return undefined;
  if (state.intel_rdt_path !== undefined && state.intel_rdt_path !== "") return undefined;
  if (config.cgroups?.Systemd !== false) return undefined;
  const hooks = config.Hooks;
  if (typeof hooks !== "object" || hooks === null) return undefined;
  const poststop = (hooks as Record<string, unknown>).poststop;
  if (poststop !== undefined && poststop !== null) {
    if (!Array.isArray(poststop) || poststop.length > 0) return undefined;
  }
  const namespaces = config.namespaces;
  if (!Array.isArray(namespaces)) return undefined;
  const pid = namespaces.find((n) => (n as { type?: unknown })?.type === "NEWPID") as
    | { path?: unknown }
    | undefined;
  // No PID namespace of its own (the host's, or another's by path): runc kills what is left.
  if (!pid || (pid.path !== undefined && pid.path !== "")) return undefined;
  const paths = state.cgroup_paths;
  if (typeof paths !== "object" || paths === null) return undefined;
  const dirs = Object.values(paths);
  const isCgroupDir = (d: unknown) =>
    typeof d === "string" && d.startsWith("/sys/fs/cgroup/") && !d.split("/").includes("..");
  if (!dirs.every(isCgroupDir)) {
    return undefined;
  }
  // Hierarchies mounted together (`cpu,cpuacct`) may be listed once per controller.
  return [...new Set(dirs as string[])];
}

/**
 * Deletes the stopped container whose runc state dir is `stateDir`, as `runc delete --force`
 * would (see the module doc).
 *
 * @returns `deleted`; `absent` when runc has no such container (no state dir); undefined when
 *   `runc delete` must answer (nothing, or only some of the cgroups, were removed).
 */
export async function deleteStopped(stateDir: string): Promise<"deleted" | "absent" | undefined> {
  let state: RuncState;
  try {
    state = JSON.parse(await Deno.readTextFile(join(stateDir, "state.json"))) as RuncState;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) return undefined;
    // A dir without its state (a create that failed half-way) is runc's to remove.
    return await Deno.lstat(stateDir).then(() => undefined, () => "absent" as const);
  }
  if (typeof state !== "object" || state === null) return undefined;
  const pid = state.init_process_pid;
  const start = state.init_process_start;
  if (typeof pid !== "number" || typeof start !== "number") return undefined;
  // Alive and still the container's init (runc's own test: the start time, and not a zombie).
  const stat = await readProcStat(pid);
  if (stat && stat.startTime === String(start) && !hasEnded(stat)) return undefined;
  const cgroups = directlyDeletable(state);
  if (!cgroups) return undefined;
  // Off the JS thread: an rmdir waits for the kernel's cgroup lock, which another container's
  // create or exit may hold.
  const removed = await Promise.all(cgroups.map((dir) =>
    Deno.remove(dir).then(
      () => true,
      (err) => err instanceof Deno.errors.NotFound,
    )
  ));
  if (!removed.every(Boolean)) return undefined;
  // The cgroups are gone, the state is not: runc (or this, after a restart) finishes the job.
  crashPoint("exit_cleanup:after_runtime_cgroups");
  await Deno.remove(stateDir, { recursive: true });
  return "deleted";
}
