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
    // Read the pipes and the status ourselves: ChildProcess.output() after spawn() leaks about
    // 100 KB per call in Deno 2.9.6 (seen here: RSS grew 30 MB per 300 runs).
    const [stdoutBytes, stderrBytes, status] = await Promise.all([
      readAll(child.stdout),
      readAll(child.stderr),
      child.status,
    ]).finally(() => clearTimeout(timer));
    const out = { code: status.code, stdout: stdoutBytes, stderr: stderrBytes };
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

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    size += chunk.length;
  }
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/** `PATH` for the programs ocid runs when its own environment has none. */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The `PATH` the programs ocid runs get: ocid's own, else {@linkcode DEFAULT_PATH}. */
export function programPath(): string {
  return Deno.env.get("PATH") ?? DEFAULT_PATH;
}

/** Decodes a program's output as UTF-8. */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
