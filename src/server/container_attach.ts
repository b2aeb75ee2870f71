/**
 * Attach: validates the request (the container exists and runs, at least one of
 * stdin/stdout/stderr, no stderr with a tty) and returns a single-use URL of the streaming
 * server, where the client receives what the container prints.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
import { canExecInContainer } from "../store/container.ts";
import type { Deps } from "./deps.ts";
import { checkStreamFlags, requireStreams } from "./container_exec.ts";

/** What Attach uses. */
export type AttachDeps = Pick<Deps, "containers" | "streams">;

/** Answers Attach. */
// Async so that a validation error becomes a rejected promise.
// deno-lint-ignore require-await
export async function attach(
  deps: AttachDeps,
  req: cri.AttachRequest,
): Promise<cri.AttachResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  checkStreamFlags("Attach", req);
  const container = deps.containers.get(req.container_id);
  if (!canExecInContainer(container.status)) {
    throw new FailedPreconditionError(
      `Cannot attach to container "${container.id}": it is ${container.status.state}, not running`,
    );
  }
  const url = requireStreams(deps).url({
    kind: "attach",
    containerId: container.id,
    tty: req.tty,
    stdin: req.stdin,
    stdout: req.stdout,
    stderr: req.stderr,
    ...(req.audit_request_id ? { auditRequestId: req.audit_request_id } : {}),
  });
  return { url };
}
