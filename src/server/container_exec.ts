/**
 * Exec: validates the request (the container exists and runs, a command, at least one of
 * stdin/stdout/stderr, no stderr with a tty) and returns a single-use URL of the streaming
 * server, where the client runs the command with its streams attached.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError, OcidError } from "../errors.ts";
import { canExecInContainer } from "../store/container.ts";
import type { Deps } from "./deps.ts";

/** What Exec uses. */
export type ExecDeps = Pick<Deps, "containers" | "streams">;

/**
 * Checks what Exec and Attach share: a channel is asked for, and stderr not with a tty.
 *
 * @throws {InvalidArgumentError}
 */
export function checkStreamFlags(
  what: string,
  req: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean },
): void {
  if (!req.stdin && !req.stdout && !req.stderr) {
    throw new InvalidArgumentError(`${what} needs one of stdin, stdout or stderr`);
  }
  if (req.tty && req.stderr) {
    throw new InvalidArgumentError(
      `${what} cannot stream stderr with a tty: the terminal merges it into stdout`,
    );
  }
}

/** The streaming server, or UNAVAILABLE when the daemon runs without one. */
export function requireStreams(deps: Pick<Deps, "streams">): NonNullable<Deps["streams"]> {
  if (!deps.streams) throw new OcidError("UNAVAILABLE", "The streaming server is not running");
  return deps.streams;
}

/** Answers Exec. */
// Async so that a validation error becomes a rejected promise.
// deno-lint-ignore require-await
export async function exec(deps: ExecDeps, req: cri.ExecRequest): Promise<cri.ExecResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  if (req.cmd.length === 0 || req.cmd[0] === "") {
    throw new InvalidArgumentError("Missing cmd in ExecRequest");
  }
  checkStreamFlags("Exec", req);
  const container = deps.containers.get(req.container_id);
  if (!canExecInContainer(container.status)) {
    throw new FailedPreconditionError(
      `Cannot exec in container "${container.id}": it is ${container.status.state}, not running`,
    );
  }
  const url = requireStreams(deps).url({
    kind: "exec",
    containerId: container.id,
    cmd: [...req.cmd],
    tty: req.tty,
    stdin: req.stdin,
    stdout: req.stdout,
    stderr: req.stderr,
    ...(req.audit_request_id ? { auditRequestId: req.audit_request_id } : {}),
  });
  return { url };
}
