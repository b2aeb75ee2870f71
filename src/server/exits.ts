/**
 * Turns an exit event into a status change of the container or sandbox it belongs to, and starts
 * the runtime's cleanup of the exited process in the background (`src/exit_cleanup.ts`: runtime
 * delete, rootfs unmount; for a sandbox, of its infra container). Called by the exit hub's
 * listener and, idempotently, by whoever waited for the exit.
 *
 * @module
 */
import { join } from "node:path";
import type { ExitEvent } from "../exit_hub.ts";
import type { Deps } from "./deps.ts";
import { dateNs, notBeforeNs } from "./time.ts";
import { publishContainerEvent, publishSandboxEvent } from "./container_events.ts";

/** Records that the process of `id` (a container or a sandbox's infra) has ended. */
export async function recordExit(
  deps: Pick<
    Deps,
    "sandboxes" | "containers" | "log" | "events" | "images" | "metrics" | "cleanups" | "holders"
  >,
  id: string,
  event: ExitEvent,
): Promise<void> {
  if (deps.containers.has(id)) {
    const container = deps.containers.get(id);
    if (container.status.state === "CONTAINER_EXITED") return;
    const oom = await Deno.stat(join(container.metadata.bundle, "oom")).then(
      () => true,
      () => false,
    );
    const reason = oom
      ? "OOMKilled"
      : event.unknown !== undefined
      ? "Unknown"
      : event.exitCode === 0
      ? "Completed"
      : "Error";
    // Two callers may record one exit at once (the exit hub and a stop): the first one wins.
    let exited = false;
    await deps.containers.update(id, (s) => {
      if (s.state === "CONTAINER_EXITED") return s;
      exited = true;
      return {
        ...s,
        state: "CONTAINER_EXITED",
        exitCode: event.exitCode,
        finishedAt: notBeforeNs(dateNs(event.finishedAt), s.startedAt),
        reason,
        message: oom
          ? "The container was killed for exceeding its memory limit"
          : event.unknown ?? "",
      };
    });
    if (!exited) return;
    deps.cleanups.start(id);
    deps.log.info("Container exited", { id, exitCode: event.exitCode, reason });
    if (oom) deps.metrics?.oomKilled(podNamespace(deps, container.metadata.sandboxId));
    publishContainerEvent(deps, "CONTAINER_STOPPED_EVENT", {
      id,
      sandboxId: container.metadata.sandboxId,
    });
    return;
  }
  if (deps.sandboxes.has(id)) {
    const sandbox = deps.sandboxes.get(id);
    if (sandbox.status.infraExited) return;
    let stopped = false;
    const updated = await deps.sandboxes.update(id, (s) => {
      stopped = s.state === "SANDBOX_READY";
      return { ...s, state: "SANDBOX_NOTREADY", infraExited: true };
    });
    deps.log.info("Sandbox infra process exited", { id, exitCode: event.exitCode });
    // Only an infra container exits; a pod with pinned namespaces has no runtime state.
    if (deps.holders.of(sandbox).kind === "infra") deps.cleanups.start(id);
    if (stopped) publishSandboxEvent(deps, "CONTAINER_STOPPED_EVENT", updated);
  }
}

/** The namespace of a pod, for metrics; "" when the pod is gone. */
function podNamespace(deps: Pick<Deps, "sandboxes">, sandboxId: string): string {
  if (!deps.sandboxes.has(sandboxId)) return "";
  return deps.sandboxes.get(sandboxId).metadata.config.metadata?.namespace ?? "";
}
