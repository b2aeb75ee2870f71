/**
 * The one seam through which ocid runs short-lived programs (runc verbs, CNI plugins,
 * mount helpers). conmon is the exception: it needs an extra fd and lives in
 * `src/oci/conmon_spawn.ts`.
 *
 * @module
 */
import { CommandError } from "./errors.ts";

/** What a finished program left behind. */
export interface RunResult {
  code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
}

/** Options of {@linkcode Runner.run}. */
export interface RunOptions {
  /** Bytes written to the program's stdin, which is then closed. */
  stdin?: Uint8Array | string;
  /** Complete environment of the program (not merged with ocid's). */
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the program (SIGKILL) after this many milliseconds. @default 60000 */
  timeoutMs?: number;
  /** Throw a CommandError when the exit code is not 0. @default true */
  check?: boolean;
}

/** Runs a program to completion. Tests swap in a fake that records calls. */
export interface Runner {
  run(cmd: string, args: string[], options?: RunOptions): Promise<RunResult>;
}

const decoder = new TextDecoder();

/** The default runner, on `Deno.Command`. */
export const denoRunner: Runner = {
  async run(cmd, args, options = {}) {
    const { stdin, env, cwd, timeoutMs = 60_000, check = true } = options;
    const command = new Deno.Command(cmd, {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      ...(env ? { env, clearEnv: true } : {}),
      ...(cwd ? { cwd } : {}),
    });
    const child = command.spawn();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, timeoutMs);
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      try {
        await writer.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin);
      } catch {
        /* the program closed stdin early; its exit status tells */
      } finally {
        await writer.close().catch(() => {});
      }
    }
    const out = await child.output().finally(() => clearTimeout(timer));
    if (timedOut) {
      throw new CommandError(
        `${cmd} ${args.join(" ")}`,
        out.code,
        `timed out after ${timeoutMs} ms`,
      );
    }
    const result = { code: out.code, stdout: out.stdout, stderr: out.stderr };
    if (check && out.code !== 0) {
      throw new CommandError(
        `${cmd} ${args.join(" ")}`,
        out.code,
        decoder.decode(out.stderr) || decoder.decode(out.stdout),
      );
    }
    return result;
  },
};

/** Decodes a program's output as UTF-8. */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
