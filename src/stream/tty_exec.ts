/**
 * The seam for exec with a terminal (`kubectl exec -t`). A terminal needs a pseudo-terminal
 * pair whose master ocid reads and writes, and whose size follows the client's resize
 * messages; `pty_exec.ts` implements it (the streaming server's default). Without one,
 * `exec.ts` refuses tty with a clear error.
 *
 * @module
 */
import type { CommandOutcome, RemoteCommandStreams } from "./remote_command.ts";
import type { ExecStreamRequest, ExecTarget } from "./types.ts";

/** Runs an exec whose process gets a terminal. */
export interface TtyExec {
  run(
    target: ExecTarget,
    session: { request: ExecStreamRequest; streams: RemoteCommandStreams; gone: Promise<void> },
  ): Promise<CommandOutcome>;
}
