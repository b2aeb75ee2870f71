/**
 * Start-up reconciliation: the stores were loaded from disk; make them agree with reality.
 * A container or infra process whose exit file exists is recorded as exited; one whose
 * runtime state is gone is marked exited or unknown. No RPC is served before this ends.
 *
 * @module
 */
import type { Deps } from "./server/deps.ts";

/** Reconciles the loaded stores with the runtime and conmon's exit files. */
export async function recover(deps: Deps): Promise<void> {
  const live = new Map<string, string>();
  if (deps.sandboxes.size + deps.containers.size > 0) {
    for (const state of await deps.runtime.list().catch(() => [])) live.set(state.id, state.status);
  }
  for (const sandbox of deps.sandboxes.list()) {
    if (sandbox.status.state !== "SANDBOX_READY") continue;
    const status = live.get(sandbox.id);
    if (status === "running" || status === "created") continue;
    deps.exits.deliver(sandbox.id, { exitCode: 255, finishedAt: new Date() });
  }
  for (const container of deps.containers.list()) {
    const state = container.status.state;
    if (state === "CONTAINER_EXITED") continue;
    const status = live.get(container.id);
    if (status === "running" || (status === "created" && state === "CONTAINER_CREATED")) continue;
    deps.exits.deliver(container.id, { exitCode: 255, finishedAt: new Date() });
  }
  await deps.exits.settled();
}
