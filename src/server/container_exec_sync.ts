/**
 * ExecSync: runs a command in a running container with the container's environment, working
 * directory, user and privileges, and returns its stdout, stderr and exit code. The timeout is
 * honoured (DEADLINE_EXCEEDED, which kubelet reports as a probe timeout), and the output is
 * capped so a flood cannot exhaust the daemon's memory (CRI-O caps at 16 MiB since
 * CVE-2022-1708): past the cap the process is killed and what was kept is returned. A caller
 * that goes away (cancels, or its deadline passes) has the process killed too.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError, OcidError } from "../errors.ts";
import { canExecInContainer } from "../store/container.ts";
import type { Deps } from "./deps.ts";

/** What ExecSync uses. */
export type ExecSyncDeps = Pick<Deps, "log" | "runtime" | "containers">;

/** The largest gRPC message ocid sends, and kubelet's limit on what it receives. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/**
 * What an ExecSyncResponse adds to its output: two field tags with 4-byte lengths and the
 * exit code (a negative int32 takes 10 bytes), 21 bytes at most; rounded up.
 */
const RESPONSE_OVERHEAD_BYTES = 64;
/**
 * The most output kept, stdout and stderr together: the response, framing included, must
 * fit the 16 MiB message (a full 16 MiB of output failed with RESOURCE_EXHAUSTED).
 */
export const EXEC_SYNC_MAX_OUTPUT_BYTES = MAX_MESSAGE_BYTES - RESPONSE_OVERHEAD_BYTES;

/** The timeout when the request gives none (0 means "no timeout" in the CRI). */
const NO_TIMEOUT_MS = 24 * 60 * 60 * 1000;

/** Answers ExecSync. */
export async function execSync(
  deps: ExecSyncDeps,
  req: cri.ExecSyncRequest,
  ctx?: { signal?: AbortSignal },
): Promise<cri.ExecSyncResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  if (req.cmd.length === 0 || req.cmd[0] === "") {
    throw new InvalidArgumentError("Missing cmd in ExecSyncRequest");
  }
  const timeout = Number(req.timeout || 0);
  if (!Number.isSafeInteger(timeout) || timeout < 0) {
    throw new InvalidArgumentError(`Invalid timeout ${JSON.stringify(req.timeout)}`);
  }
  const container = deps.containers.get(req.container_id);
  const id = container.id;
  if (!canExecInContainer(container.status)) {
    throw new FailedPreconditionError(
      `Cannot exec in container "${id}": it is ${container.status.state}, not running`,
    );
  }
  const started = performance.now();
  // The process runs as the container's (env, cwd, user, capabilities, no_new_privs): the
  // runtime reads them from the bundle's config.json; passing the bundle spares a `state`.
  const result = await deps.runtime.execSync(id, {
    args: [...req.cmd],
    bundle: container.metadata.bundle,
    timeoutMs: timeout > 0 ? timeout * 1000 : NO_TIMEOUT_MS,
    // A client that goes away (its deadline passed: a kubelet's lifecycle hook sends no
    // timeout of its own) leaves no process behind, as under containerd.
    ...(ctx?.signal ? { signal: ctx.signal } : {}),
    maxOutputBytes: EXEC_SYNC_MAX_OUTPUT_BYTES,
  });
  if (ctx?.signal?.aborted) {
    throw new OcidError("CANCELLED", `ExecSync in container "${id}" was cancelled by its caller`);
  }
  deps.log.debug("ExecSync done", {
    id,
    exitCode: result.exitCode,
    truncated: result.truncated,
    ms: (performance.now() - started).toFixed(1),
  });
  if (result.timedOut) {
    throw new OcidError(
      "DEADLINE_EXCEEDED",
      `Command ${JSON.stringify(req.cmd)} in container "${id}" timed out after ${timeout} s`,
    );
  }
  return { stdout: result.stdout, stderr: result.stderr, exit_code: result.exitCode };
}
