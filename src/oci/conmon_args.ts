/**
 * Builds conmon's command line for creating a container, the way CRI-O does
 * (`internal/oci/runtime_oci.go`), minus syslog.
 *
 * @module
 */
import { join } from "node:path";

/** Inputs of {@linkcode conmonCreateArgs}. */
export interface ConmonCreateArgsOptions {
  /** Container id (`-c`, `-u`). */
  id: string;
  /** Bundle dir holding config.json (`-b`); the container pidfile goes here. */
  bundle: string;
  /** conmon `--persist-dir`: it writes `exit` (and `oom`) there; `conmon-pidfile` too. */
  persistDir: string;
  /** Container log, written in the CRI (k8s-file) format. */
  logPath: string;
  /** Path of runc or crun (`-r`). */
  runtimePath: string;
  /** The runtime's state dir (`--runtime-arg --root=<dir>`). */
  runtimeRoot: string;
  /** Where conmon writes `<id>` when the container exits. */
  exitDir: string;
  /** Where conmon links `<id>` to the bundle holding the attach socket. */
  socketDir: string;
  /** conmon `--log-level`. */
  logLevel: string;
  /** `-n`; defaults to the id. */
  name?: string;
  /** `-t`: allocate a terminal. */
  terminal?: boolean;
  /** `-i`: keep a stdin pipe for attach. */
  stdin?: boolean;
  /** Without it conmon keeps stdin open after an attached client leaves (`--leave-stdin-open`). */
  stdinOnce?: boolean;
  /** `--log-size-max` in bytes; ignored when not positive. */
  logSizeMax?: number;
}

/** Path of the container's pidfile written by the runtime. */
export function containerPidFile(bundle: string): string {
  return join(bundle, "pidfile");
}

/** Path of the pidfile conmon writes for its own daemon. */
export function conmonPidFile(persistDir: string): string {
  return join(persistDir, "conmon-pidfile");
}

/**
 * Returns the arguments of `conmon` that create (but do not start) a container.
 *
 * @param opts What to run and where conmon keeps its files.
 * @returns The argument vector, without the conmon path.
 */
export function conmonCreateArgs(opts: ConmonCreateArgsOptions): string[] {
  const args = [
    "-b",
    opts.bundle,
    "-c",
    opts.id,
    "-u",
    opts.id,
    "-n",
    opts.name ?? opts.id,
    "-r",
    opts.runtimePath,
    "--runtime-arg",
    `--root=${opts.runtimeRoot}`,
    "-p",
    containerPidFile(opts.bundle),
    "-P",
    conmonPidFile(opts.persistDir),
    "--persist-dir",
    opts.persistDir,
    "--exit-dir",
    opts.exitDir,
    "-l",
    `k8s-file:${opts.logPath}`,
    "--log-level",
    opts.logLevel,
    "--socket-dir-path",
    opts.socketDir,
    "--api-version",
    "1",
  ];
  if (opts.logSizeMax !== undefined && opts.logSizeMax > 0) {
    args.push("--log-size-max", String(opts.logSizeMax));
  }
  if (opts.terminal) {
    args.push("-t");
  } else if (opts.stdin) {
    args.push("-i");
    if (!opts.stdinOnce) args.push("--leave-stdin-open");
  }
  return args;
}
