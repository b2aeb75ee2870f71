/**
 * ReopenContainerLog: asks the container's conmon, through its ctl fifo, to reopen the log file
 * (after log rotation moved it away). Only a running container has a conmon to ask.
 *
 * It takes no lock: a write to conmon's fifo races with nothing ocid does, and the container's
 * lock is held by a StopContainer for as long as the container takes to end on its stop
 * signal (up to the pod's grace period). The kubelet rotates logs with one worker for the whole
 * node, so waiting there would stall every container's rotation (CRI-O's "ReopenContainerLog
 * should not be blocked during deletion"). A container that ends meanwhile makes the call fail.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
import type { Deps } from "./deps.ts";

/** What ReopenContainerLog uses. */
export type ReopenContainerLogDeps = Pick<Deps, "log" | "runtime" | "containers">;

/** Answers ReopenContainerLog. */
export async function reopenContainerLog(
  deps: ReopenContainerLogDeps,
  req: cri.ReopenContainerLogRequest,
): Promise<cri.ReopenContainerLogResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  const id = deps.containers.get(req.container_id).id;
  const container = deps.containers.get(id);
  if (container.status.state !== "CONTAINER_RUNNING") {
    throw new FailedPreconditionError(
      `Cannot reopen the log of container "${id}": it is ${container.status.state}, not running`,
    );
  }
  await deps.runtime.reopenLog(id, {
    bundle: container.metadata.bundle,
    logPath: container.metadata.logPath,
  });
  deps.log.info("Container log reopened", { id, logPath: container.metadata.logPath });
  return {};
}
