/**
 * UpdateContainerResources: applies new Linux resources, merged over the current ones
 * ({@linkcode mergeResources}), to a created or running container (`<runtime> update`), then
 * keeps them in the bundle's config.json and the container's status (ContainerStatus reports
 * them). An update the runtime refuses leaves the container's resources as they were: the
 * runtime is given them back.
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
import { toLinuxResources } from "../spec/mod.ts";
import { noLinuxContainerResources } from "../spec/resources.ts";
import type { LinuxResources, Spec } from "../spec/types.ts";
import { type CgroupLayout, controllerDir } from "../cgroups/mod.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { canUpdateContainer } from "../store/container.ts";
import type { Deps } from "./deps.ts";
import { enforceableResources } from "./cgroup_fit.ts";
import { OciRuntimeError } from "../oci/runtime_error.ts";

/** What UpdateContainerResources uses. */
export type UpdateContainerResourcesDeps = Pick<
  Deps,
  "log" | "locks" | "runtime" | "containers" | "cgroupSupport" | "cgroupLayout"
>;

/** Answers UpdateContainerResources. */
export async function updateContainerResources(
  deps: UpdateContainerResourcesDeps,
  req: cri.UpdateContainerResourcesRequest,
): Promise<cri.UpdateContainerResourcesResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  if (!req.linux) throw new InvalidArgumentError("Missing linux resources in the request");
  toLinuxResources(req.linux, "linux"); // its values checked before anything is locked
  const id = deps.containers.get(req.container_id).id;
  // Its own lock, not the container's: a StopContainer holds that one while the container
  // ends on its stop signal, and the kubelet's CPU manager updates every container in one loop.
  using _ = await deps.locks.lock(resourcesLock(id));
  const container = deps.containers.get(id);
  if (!canUpdateContainer(container.status)) {
    throw new FailedPreconditionError(
      `Cannot update the resources of container "${id}": it is ${container.status.state}`,
    );
  }
  const merged = mergeResources(
    container.status.resources ?? container.metadata.config.linux?.resources ?? undefined,
    req.linux,
  );
  // What this node cannot take is dropped, or refused (a cpuset naming CPUs it has not).
  const resources = enforceableResources(deps, toLinuxResources(merged, "linux"), {
    container: id,
  });
  const specPath = join(container.metadata.bundle, "config.json");
  const spec = JSON.parse(await Deno.readTextFile(specPath)) as Spec;
  const previous = await resourcesBefore(
    deps.cgroupLayout,
    container.status.pid,
    spec.linux?.resources,
    resources,
  );
  try {
    await deps.runtime.updateResources(id, resources);
  } catch (err) {
    // A controller that refuses its value (cgroup v1's memory limit below what cannot be
    // reclaimed) fails the update after the controllers set before it (cpuset) took theirs, and
    // runc 1.1 "sets back" the new values, not the old: the container's own go back.
    if (previous) {
      await deps.runtime.updateResources(id, previous).catch((undoErr) =>
        deps.log.warn("Cannot put the container's resources back after a failed update", {
          id,
          err: undoErr,
        })
      );
    }
    throw memoryBelowUsage(id, err) ?? err;
  }

  if (spec.linux) {
    // Device rules are not updatable through the CRI; keep the created ones.
    spec.linux.resources = { ...resources, devices: spec.linux.resources?.devices ?? [] };
    await writeFileAtomic(specPath, JSON.stringify(spec, null, 2));
  }
  await deps.containers.update(id, (s) => ({ ...s, resources: merged }));
  deps.log.info("Container resources updated", { id });
  return {};
}

/**
 * The lock UpdateContainerResources holds for container `id`. The removal of the container
 * takes it too, so that an update under way ends before the files it writes go.
 */
export function resourcesLock(id: string): string {
  return `container-resources:${id}`;
}

/**
 * The container's CRI resources after an update: the request's over `current`, as containerd
 * merges them (`WithResources`): a number left 0 or a string left empty keeps its value, hugepage
 * limits replace theirs by page size, unified keys by key. The kubelet counts on it: its CPU
 * manager sends `cpuset_cpus` alone, its memory manager `cpuset_mems` alone, and reads the
 * limits back from ContainerStatus (in-place resize). `oom_score_adj` is the process's, not the
 * cgroup's: no update changes it.
 */
export function mergeResources(
  current: Readonly<cri.LinuxContainerResources> | undefined,
  update: Readonly<cri.LinuxContainerResources>,
): cri.LinuxContainerResources {
  const base = current ?? noLinuxContainerResources();
  const number = (k: NumberField) => Number(update[k] || 0) !== 0 ? update[k] : base[k];
  const string = (k: "cpuset_cpus" | "cpuset_mems") => update[k] || base[k];
  const pages = new Map(base.hugepage_limits.map((h) => [h.page_size, h]));
  for (const h of update.hugepage_limits ?? []) pages.set(h.page_size, h);
  return {
    cpu_period: number("cpu_period"),
    cpu_quota: number("cpu_quota"),
    cpu_shares: number("cpu_shares"),
    memory_limit_in_bytes: number("memory_limit_in_bytes"),
    oom_score_adj: base.oom_score_adj,
    cpuset_cpus: string("cpuset_cpus"),
    cpuset_mems: string("cpuset_mems"),
    hugepage_limits: [...pages.values()],
    unified: { ...base.unified, ...update.unified },
    memory_swap_limit_in_bytes: number("memory_swap_limit_in_bytes"),
  };
}

type NumberField =
  | "cpu_period"
  | "cpu_quota"
  | "cpu_shares"
  | "memory_limit_in_bytes"
  | "memory_swap_limit_in_bytes";

/**
 * The container's resources before an update, to give back when the update fails: its spec's,
 * with the cpuset its cgroup has now where the update sets one the spec does not name (to runc,
 * an absent cpuset means "leave it", so the one inherited from the parent must be said in full).
 * Read before the update is sent; a cgroup that cannot be read leaves the spec's as they are.
 */
async function resourcesBefore(
  layout: CgroupLayout,
  pid: number,
  spec: LinuxResources | undefined,
  update: LinuxResources,
): Promise<LinuxResources | undefined> {
  const missing = (["cpus", "mems"] as const).filter((k) => update.cpu?.[k] && !spec?.cpu?.[k]);
  if (missing.length === 0 || pid <= 0) return spec;
  try {
    const dir = controllerDir(layout, await Deno.readTextFile(`/proc/${pid}/cgroup`), "cpuset");
    if (!dir) return spec;
    const cpu = { ...spec?.cpu };
    for (const k of missing) {
      cpu[k] = (await Deno.readTextFile(join(dir, `cpuset.${k}`))).trim();
    }
    return { ...spec, cpu };
  } catch {
    return spec;
  }
}

/**
 * The runtime's refusal of a memory limit below the memory the container holds and the kernel
 * could not reclaim (cgroup v1; runc: `unable to set memory limit to L (current usage: U, ...`),
 * as FAILED_PRECONDITION naming both; undefined for any other error.
 */
export function memoryBelowUsage(id: string, err: unknown): FailedPreconditionError | undefined {
  const m = err instanceof OciRuntimeError
    ? /unable to set memory limit to (\d+) \(current usage: (\d+)/.exec(err.stderr)
    : null;
  if (!m) return undefined;
  return new FailedPreconditionError(
    `Cannot set the memory limit of container "${id}" to ${m[1]} bytes: it uses ${m[2]} bytes ` +
      `that the kernel could not reclaim; its resources are unchanged`,
    { cause: err },
  );
}
