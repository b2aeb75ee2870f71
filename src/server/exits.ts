/**
 * Turns an exit event into a status change of the container or sandbox it belongs to. Called
 * by the exit hub's listener and, idempotently, by whoever waited for the exit.
 *
 * @module
 */
import { join } from "node:path";
import type { ExitEvent } from "../exit_hub.ts";
import type { Deps } from "./deps.ts";
import { dateNs } from "./time.ts";

/** Records that the process of `id` (a container or a sandbox's infra) has ended. */
export async function recordExit(
  deps: Pick<Deps, "sandboxes" | "containers" | "log">,
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
    const reason = oom ? "OOMKilled" : event.exitCode === 0 ? "Completed" : "Error";
    await deps.containers.update(id, (s) => ({
      ...s,
      state: "CONTAINER_EXITED",
      exitCode: event.exitCode,
      finishedAt: dateNs(event.finishedAt),
      reason,
      message: oom ? "The container was killed for exceeding its memory limit" : "",
    }));
    deps.log.info("Container exited", { id, exitCode: event.exitCode, reason });
    return;
  }
  if (deps.sandboxes.has(id)) {
    const sandbox = deps.sandboxes.get(id);
    if (sandbox.status.infraExited) return;
    await deps.sandboxes.update(id, (s) => ({
      ...s,
      state: "SANDBOX_NOTREADY",
      infraExited: true,
    }));
    deps.log.info("Sandbox infra process exited", { id, exitCode: event.exitCode });
  }
}
