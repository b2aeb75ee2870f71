/**
 * RemovePodSandbox: stop the sandbox if needed, remove its containers, what its holder left
 * (the infra container's runtime state, usually deleted at its exit already; pinned
 * namespaces), its mounts and dirs, and its record. Idempotent: an unknown ID succeeds.
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { ignoreNotFound } from "../errors.ts";
import type { Deps } from "./deps.ts";
import { findOrUndefined, type StopPodSandboxDeps, stopSandbox } from "./sandbox_stop.ts";
import { removeContainerEverything } from "./container_remove.ts";
import { withContainerLock } from "./container_lock.ts";
import { crashPoint } from "../crash.ts";
import { publishSandboxEvent } from "./container_events.ts";

/** What RemovePodSandbox uses. */
export type RemovePodSandboxDeps = StopPodSandboxDeps & Pick<Deps, "images" | "config">;

/** Removes a pod sandbox; see the module doc. */
export async function removePodSandbox(
  deps: RemovePodSandboxDeps,
  req: cri.RemovePodSandboxRequest,
): Promise<cri.RemovePodSandboxResponseInit> {
  const sandbox = findOrUndefined(deps, req.pod_sandbox_id);
  if (!sandbox) return {};
  const id = sandbox.id;
  using _ = await deps.locks.lock(`sandbox:${id}`);
  if (!deps.sandboxes.has(id)) return {};
  await stopSandbox(deps, id);
  crashPoint("sandbox_remove:after_stop");
  const meta = sandbox.metadata;
  // Everything is stopped: the containers, what the holder left (then the pause image rootfs,
  // when one was used, which the infra container had mounted) and the run dir (its /dev/shm
  // is unmounted) go in parallel.
  await Promise.all([
    ...deps.containers.list()
      .filter((c) => c.metadata.sandboxId === id)
      .map((c) => withContainerLock(deps, c.id, () => removeContainerEverything(deps, c.id))),
    deps.holders.of(sandbox).remove(sandbox).then(() => deps.images.removeRootfs(id)),
    Deno.remove(meta.runDir, { recursive: true }).catch(ignoreNotFound),
  ]);
  crashPoint("sandbox_remove:after_runtime_delete");
  // The record, with the exit file, conmon's attach socket dir and the pod log dir ocid made
  // itself (kubelet names its own, which it removes); then the bundle, the record's dir.
  const defaultLogDir = join(deps.config.podLogDir, id);
  const last = deps.sandboxes.get(id);
  // conmon's exit file and attach socket dir exist only for an infra container.
  const conmonFiles = deps.holders.of(sandbox).kind === "infra"
    ? [
      Deno.remove(join(deps.config.runroot, "exits", id)),
      Deno.remove(join(deps.config.runroot, "socket", id), { recursive: true }),
    ]
    : [];
  await Promise.all([
    deps.sandboxes.delete(id),
    ...[
      ...conmonFiles,
      ...(meta.logDirectory === defaultLogDir
        ? [Deno.remove(defaultLogDir, { recursive: true })]
        : []),
    ].map((p) => p.catch(ignoreNotFound)),
  ]);
  publishSandboxEvent(deps, "CONTAINER_DELETED_EVENT", last);
  crashPoint("sandbox_remove:after_record");
  await Deno.remove(meta.bundle, { recursive: true }).catch(ignoreNotFound);
  deps.exits.forget(id);
  deps.log.info("Sandbox removed", { id, name: sandbox.name });
  return {};
}
