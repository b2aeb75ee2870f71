/**
 * StartContainer: start a CREATED container (runc's through its exec FIFO, in the daemon,
 * `src/oci/exec_fifo.ts`; else `<runtime> start`), then record it RUNNING. A start
 * that fails leaves the container EXITED with reason StartError. A process that exits at once
 * may be recorded EXITED before the RUNNING update: then only its start time is added, and the
 * runtime's cleanup after that exit (`src/exit_cleanup.ts`) waits until the start has returned.
 *
 * @module
 */
import { crashPoint } from "../crash.ts";
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
import { canStartContainer, containerExited } from "../store/container.ts";
import type { Deps } from "./deps.ts";
import { recordExit } from "./exits.ts";
import { notBeforeNs, nowNs } from "./time.ts";
import { publishContainerEvent } from "./container_events.ts";
import { containerLock } from "./container_lock.ts";

/** What StartContainer uses. */
export type StartContainerDeps = Pick<
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
>;

/** Answers StartContainer. */
export async function startContainer(
  deps: StartContainerDeps,
  req: cri.StartContainerRequest,
): Promise<cri.StartContainerResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  const id = deps.containers.get(req.container_id).id;
  using _ = await deps.locks.lock(containerLock(id));
  const container = deps.containers.get(id);
  if (!canStartContainer(container.status)) {
    throw new FailedPreconditionError(
      `Cannot start container "${id}": it is ${container.status.state}, only a created ` +
        `container can start`,
    );
  }
  const sandbox = deps.sandboxes.find(container.metadata.sandboxId);
  if (!sandbox || sandbox.status.state !== "SANDBOX_READY") {
    throw new FailedPreconditionError(
      `Cannot start container "${id}": its pod sandbox "${container.metadata.sandboxId}" is ` +
        `not ready`,
    );
  }
  const started = performance.now();
  // Taken before the start: the process may exit (exit file mtime) before `start` returns.
  const startedAt = nowNs();
  const ref = { id, sandboxId: container.metadata.sandboxId };
  // An exit recorded before the start is published still goes out after the start event.
  using _events = deps.events.hold(id);
  // No runtime delete of an early exit while the runtime is still starting the process.
  using _cleanup = deps.cleanups.hold(id);
  crashPoint("container_start:before_start");
  try {
    await deps.runtime.start(id, { pid: container.status.pid, bundle: container.metadata.bundle });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    let exited = false;
    await deps.containers.update(id, (s) => {
      exited = s.state !== "CONTAINER_EXITED";
      return containerExited(s, {
        exitCode: 128,
        finishedAt: nowNs(),
        reason: "StartError",
        message,
      });
    });
    if (exited) publishContainerEvent(deps, "CONTAINER_STOPPED_EVENT", ref);
    throw err;
  }
  crashPoint("container_start:after_start");
  await deps.containers.update(id, (s) => {
    if (s.state === "CONTAINER_CREATED") return { ...s, state: "CONTAINER_RUNNING", startedAt };
    // Exited before this update: its finish (a coarse mtime) may read earlier than the start.
    return s.startedAt === "0"
      ? { ...s, startedAt, finishedAt: notBeforeNs(s.finishedAt, startedAt) }
      : s;
  });
  publishContainerEvent(deps, "CONTAINER_STARTED_EVENT", ref);
  // An exit delivered before the record was RUNNING is applied now (recordExit is idempotent).
  const exit = deps.exits.exited(id);
  if (exit) await recordExit(deps, id, exit);
  deps.log.info("Container started", { id, ms: (performance.now() - started).toFixed(1) });
  return {};
}
