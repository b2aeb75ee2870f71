/**
 * The seam through which the streaming server starts long-running programs with their stdio
 * streamed (`runc exec` for Exec). The {@linkcode Runner} of `src/process.ts` buffers output
 * until exit and is not fit for this.
 *
 * @module
 */

/** Options of {@linkcode StreamSpawner.spawn}. */
export interface SpawnOptions {
  /** Pipe stdin (else /dev/null). */
  stdin: boolean;
  /** Pipe stdout (else /dev/null). */
  stdout: boolean;
  /** Pipe stderr (else /dev/null). */
  stderr: boolean;
  /** Complete environment (not merged with ocid's); inherited when absent. */
  env?: Record<string, string>;
  cwd?: string;
}

/** A started program. */
export interface SpawnedProcess {
  readonly pid: number;
  readonly stdin: WritableStream<Uint8Array> | null;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves with the exit code (128 + signal number when killed by a signal). */
  readonly status: Promise<number>;
  kill(signal: Deno.Signal): void;
}

/** Starts programs. Tests swap in a fake. */
export interface StreamSpawner {
  spawn(cmd: string, args: string[], options: SpawnOptions): SpawnedProcess;
}

/** The default spawner, on `Deno.Command`. */
export const denoSpawner: StreamSpawner = {
  spawn(cmd, args, options) {
    const child = new Deno.Command(cmd, {
      args,
      stdin: options.stdin ? "piped" : "null",
      stdout: options.stdout ? "piped" : "null",
      stderr: options.stderr ? "piped" : "null",
      ...(options.env ? { env: options.env, clearEnv: true } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    }).spawn();
    return {
      pid: child.pid,
      stdin: options.stdin ? child.stdin : null,
      stdout: options.stdout ? child.stdout : null,
      stderr: options.stderr ? child.stderr : null,
      status: child.status.then((s) => s.code),
      kill(signal) {
        try {
          child.kill(signal);
        } catch { /* already exited */ }
      },
    };
  },
};
