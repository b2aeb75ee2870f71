/**
 * StopContainer: the image's stop signal (or SIGTERM), SIGKILL after the timeout. Idempotent:
 * stopping an exited or unknown container succeeds (critest "Idempotence StopContainer should
 * not return an error if not found"; a kubelet retrying after a restart does the same). The exit
 * comes from conmon's exit file.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError, NotFoundError, OcidError } from "../errors.ts";
import { runtimeSignal } from "../signals.ts";
import type { ContainerRecord } from "../store/container.ts";
import type { Deps } from "./deps.ts";
import { recordExit } from "./exits.ts";
import { PendingStop } from "./pending_stops.ts";
import type { ExitEvent } from "../exit_hub.ts";
import { containerLock } from "./container_lock.ts";

/** What StopContainer uses. */
export type StopContainerDeps = Pick<
  Deps,
  | "log"
  | "locks"
  | "runtime"
  | "sandboxes"
  | "containers"
  | "exits"
  | "cleanups"
  | "events"
  | "images"
  | "holders"
  | "stops"
>;

/** How long to wait for the exit after SIGKILL before asking the runtime. */
const KILL_WAIT_MS = 10_000;

/** Answers StopContainer. */
export async function stopContainer(
  deps: StopContainerDeps,
  req: cri.StopContainerRequest,
  ctx?: { signal?: AbortSignal },
): Promise<cri.StopContainerResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  const container = findOrUndefined(deps, req.container_id);
  if (!container) {
    deps.log.info("StopContainer: no such container, nothing to do", { id: req.container_id });
    return {};
  }
  const deadline = Date.now() + Math.max(0, Number(req.timeout ?? 0)) * 1000;
  // A stop under way (waiting on the stop signal) is not queued behind: its SIGKILL comes
  // forward to this call's deadline if earlier, and this call ends when it does.
  const underway = deps.stops.get(container.id);
  if (underway) {
    underway.join(deadline);
    const abandoned = await underway.done.then(
      () => false,
      (err) => {
        if (err instanceof OcidError && err.code === "CANCELLED") return true;
        throw err;
      },
    );
    // Its caller went away just before this call joined it: stop anew.
    return abandoned ? await stopContainer(deps, req, ctx) : {};
  }
  using _ = await deps.locks.lock(containerLock(container.id));
  // Removed while we waited for the lock: nothing left to stop.
  if (!deps.containers.has(container.id)) return {};
  await deps.stops.run(
    container.id,
    deadline,
    (pending) => stopContainerProcess(deps, container.id, pending),
    ctx?.signal,
  );
  return {};
}

/**
 * Ends the container's process: its stop signal, then SIGKILL once `until` passes (a number of
 * seconds from now, or a {@linkcode PendingStop} whose deadline may come forward); records the
 * exit. A container that is not running is left as it is.
 */
export async function stopContainerProcess(
  deps: Omit<StopContainerDeps, "stops">,
  id: string,
  until: number | PendingStop,
): Promise<void> {
  const stop = typeof until === "number" ? new PendingStop(Date.now() + until * 1000) : until;
  const container = deps.containers.get(id);
  const state = container.status.state;
  if (state === "CONTAINER_EXITED") return;
  // The init as created: signalled directly while it is still that process (no runc kill).
  const { pid, pidStartTime } = container.status;
  const init = pid > 0 && pidStartTime !== undefined
    ? { init: { pid, startTime: pidStartTime } }
    : {};
  if (state === "CONTAINER_CREATED") {
    // Never started: conmon still waits on the runtime's created process; end it.
    await deps.runtime.kill(id, "KILL", init).catch(() => {});
  } else {
    const signal = runtimeSignal(container.metadata.stopSignal || "SIGTERM");
    if (stop.deadline > Date.now()) {
      const timeoutSeconds = Math.round((stop.deadline - Date.now()) / 1000);
      await deps.runtime.kill(id, signal, init).catch(() => {});
      const exit = await waitUntilDeadline(deps, id, stop);
      if (exit) return await recordExit(deps, id, exit);
      if (stop.abandoned) {
        deps.log.info("StopContainer cancelled by its caller; no SIGKILL", { id });
        throw new OcidError("CANCELLED", `StopContainer of "${id}" was cancelled`);
      }
      deps.log.info("Container did not stop in time, sending SIGKILL", { id, timeoutSeconds });
    }
    // Every process of the container. In a PID namespace of its own, the kernel ends them all
    // with the init; in a shared one, the runtime signals each process of its cgroup.
    await deps.runtime.kill(id, "KILL", { all: !container.metadata.ownPidNamespace, ...init })
      .catch(() => {});
  }
  const exit = await deps.exits.wait(id, KILL_WAIT_MS);
  if (exit) return await recordExit(deps, id, exit);
  const now = await deps.runtime.state(id).catch(() => undefined);
  if (now && now.status !== "stopped") {
    throw new Error(`Cannot stop container "${id}": the runtime still reports it ${now.status}`);
  }
  await recordExit(deps, id, { exitCode: 137, finishedAt: new Date() });
}

/**
 * The exit of `id` before `stop`'s deadline, which may come forward while waiting; undefined
 * at the deadline, or once the stop is abandoned.
 */
async function waitUntilDeadline(
  deps: Pick<StopContainerDeps, "exits">,
  id: string,
  stop: PendingStop,
): Promise<ExitEvent | undefined> {
  for (;;) {
    if (stop.abandoned) return undefined;
    const changed = stop.changed;
    const exit = await deps.exits.wait(id, Math.max(0, stop.deadline - Date.now()), changed);
    if (exit || !changed.aborted) return exit;
  }
}

/** The container named by an ID or unique prefix, or undefined when none matches. */
function findOrUndefined(
  deps: Pick<Deps, "containers">,
  idOrPrefix: string,
): ContainerRecord | undefined {
  try {
    return deps.containers.get(idOrPrefix);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}
