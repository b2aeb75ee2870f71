/**
 * The command line of `<runtime> exec` for a process spec in a file, shared by ExecSync and
 * the streaming exec (with or without a terminal).
 *
 * @module
 */

/** What {@linkcode runtimeExecArgs} puts on the command line. */
export interface RuntimeExecArgsOptions {
  /** The container's id. */
  id: string;
  /** The OCI process spec (JSON) to run. */
  processFile: string;
  /** Where the runtime writes the process's pid once it started. */
  pidFile: string;
}

/**
 * The arguments of runc or crun for one exec:
 * `--root <root> exec --process <file> --pid-file <file> <id>`.
 *
 * @param runtimeRoot The runtime's `--root`.
 * @param options The container, the process spec file and the pid file.
 * @returns The arguments, without the runtime's path.
 */
export function runtimeExecArgs(runtimeRoot: string, options: RuntimeExecArgsOptions): string[] {
  return [
    "--root",
    runtimeRoot,
    "exec",
    "--process",
    options.processFile,
    "--pid-file",
    options.pidFile,
    options.id,
  ];
}
