/**
 * RemoveContainer: a running container is killed first; then its runtime state, rootfs mount,
 * writable layer, dirs and record go. The runtime state and the mount usually went when the exit
 * was recorded (`src/exit_cleanup.ts`): that work is awaited, or done now when it did not run or
 * failed. Idempotent: an unknown ID succeeds.
 *
 * @module
 */
import { dirname, join } from "node:path";
import type * as cri from "../cri/types.ts";
import { ignoreNotFound, NotFoundError } from "../errors.ts";
import type { Deps } from "./deps.ts";
import { type StopContainerDeps, stopContainerProcess } from "./container_stop.ts";
import { publishContainerEvent } from "./container_events.ts";
import { resourcesLock } from "./container_update_resources.ts";
import { withContainerLock } from "./container_lock.ts";

/** What RemoveContainer uses. */
export type RemoveContainerDeps = StopContainerDeps & Pick<Deps, "images" | "config">;

/** Answers RemoveContainer. */
export async function removeContainer(
  deps: RemoveContainerDeps,
  req: cri.RemoveContainerRequest,
): Promise<cri.RemoveContainerResponseInit> {
  let id: string;
  try {
    id = deps.containers.get(req.container_id).id;
  } catch (err) {
    if (err instanceof NotFoundError) return {};
    throw err;
  }
  // A running container is removed by force: a StopContainer under way (which holds the lock
  // while it waits on the stop signal) sends its SIGKILL now.
  await withContainerLock(deps, id, () => removeContainerEverything(deps, id));
  return {};
}

/** Removes container `id` and all it owns; the caller holds its lock ({@linkcode withContainerLock}). */
export async function removeContainerEverything(
  deps: Omit<RemoveContainerDeps, "stops">,
  id: string,
): Promise<void> {
  const container = deps.containers.get(id);
  // An UpdateContainerResources under way (it holds its own lock, not the container's) ends
  // first: it writes the bundle's config.json and the record, which go here.
  using _ = await deps.locks.lock(resourcesLock(id));
  await stopContainerProcess(deps, id, 0);
  // The process is gone: its runtime state and rootfs mount went with the exit, or go now
  // (nothing can mount the rootfs of an exited container again).
  await deps.cleanups.finish(id);
  // Nothing runs or is mounted: the rest is independent, but the record goes only once the
  // writable layer has (a failed removal leaves a record for the retry).
  await Promise.all([
    deps.images.removeRootfs(id, { unmounted: true }).then(() => deps.containers.delete(id)),
    Deno.remove(container.metadata.bundle, { recursive: true }).catch(ignoreNotFound),
    // conmon's exit file, so the exit dir does not grow forever.
    Deno.remove(join(deps.config.runroot, "exits", id)).catch(ignoreNotFound),
    // conmon's attach socket dir (leak found by the recovery test).
    Deno.remove(join(deps.config.runroot, "socket", id), { recursive: true }).catch(
      ignoreNotFound,
    ),
  ]);
  publishContainerEvent(deps, "CONTAINER_DELETED_EVENT", {
    id,
    sandboxId: container.metadata.sandboxId,
  });
  // <root>/containers/<id>: empty once the rootfs and the bundle are gone.
  await Deno.remove(dirname(container.metadata.bundle)).catch(ignoreNotFound);
  deps.exits.forget(id);
  deps.log.info("Container removed", { id, name: container.name });
}
