/**
 * PortForward: validates the request (the pod exists and is ready, ports in 1-65535) and
 * returns a single-use URL of the streaming server, where the client opens one pair of
 * streams per forwarded connection.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
import { isSandboxReady } from "../store/sandbox.ts";
import type { Deps } from "./deps.ts";
import { requireStreams } from "./container_exec.ts";
import { isPort } from "../port.ts";

/** What PortForward uses. */
export type PortForwardDeps = Pick<Deps, "sandboxes" | "streams">;

/** Answers PortForward. */
// Async so that a validation error becomes a rejected promise.
// deno-lint-ignore require-await
export async function portForward(
  deps: PortForwardDeps,
  req: cri.PortForwardRequest,
): Promise<cri.PortForwardResponseInit> {
  if (!req.pod_sandbox_id) throw new InvalidArgumentError("Missing pod_sandbox_id");
  const ports = req.port.map(Number);
  const bad = ports.find((p) => !isPort(p));
  if (bad !== undefined) throw new InvalidArgumentError(`Invalid port ${bad}: expected 1-65535`);
  const sandbox = deps.sandboxes.get(req.pod_sandbox_id);
  if (!isSandboxReady(sandbox.status)) {
    throw new FailedPreconditionError(
      `Cannot forward ports of pod sandbox "${sandbox.id}": it is ${sandbox.status.state}`,
    );
  }
  const url = requireStreams(deps).url({ kind: "portforward", sandboxId: sandbox.id, ports });
  return { url };
}
