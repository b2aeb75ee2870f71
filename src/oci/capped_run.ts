/**
 * Runs a program whose output may be unbounded (an exec in a container), keeping at most
 * `maxOutputBytes` of its stdout and stderr together. Past the cap it stops reading and kills
 * the program, so a flood cannot exhaust ocid's memory (CVE-2022-1708). The plain
 * {@linkcode Runner} of `src/process.ts` buffers everything and is not fit for this.
 *
 * @module
 */

/** Options of {@linkcode CappedRunner.run}. */
export interface CappedRunOptions {
  /** Kill the program after this many milliseconds. */
  timeoutMs: number;
  /** Keep at most this many bytes of stdout plus stderr; kill the program past it. */
  maxOutputBytes: number;
  /** Complete environment (not merged with ocid's); inherited when absent. */
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Called once before the program is killed (timeout or cap), e.g. to kill the process it
   * started in a container, which SIGKILL of `runc exec` would leave running.
   */
  beforeKill?: () => Promise<void> | void;
}

/** What {@linkcode CappedRunner.run} returns. */
export interface CappedRunResult {
  /** Exit code; 128 + signal number when the program died of a signal. */
  code: number;
  stdout: Uint8Array;
  stderr: Uint8Array;
  /** The timeout passed and the program was killed. */
  timedOut: boolean;
  /** The output went past the cap; what was kept is a prefix. */
  truncated: boolean;
}

/** Runs one program with bounded output. Tests swap in a fake. */
export interface CappedRunner {
  run(cmd: string, args: string[], options: CappedRunOptions): Promise<CappedRunResult>;
}

/** Time given to the output pipes to reach EOF after the program exits. */
const DRAIN_GRACE_MS = 2_000;

/** The default capped runner, on `Deno.Command`. */
export const denoCappedRunner: CappedRunner = {
  async run(cmd, args, options) {
    const { timeoutMs, maxOutputBytes, env, cwd, beforeKill } = options;
    const child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(env ? { env, clearEnv: true } : {}),
      ...(cwd ? { cwd } : {}),
    }).spawn();

    let total = 0;
    let truncated = false;
    let timedOut = false;
    let killing: Promise<void> | undefined;
    const kill = () => {
      killing ??= (async () => {
        try {
          await beforeKill?.();
        } catch { /* best effort: SIGKILL below still ends the program */ }
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
      })();
      return killing;
    };

    const readers = [child.stdout.getReader(), child.stderr.getReader()];
    const chunks: Uint8Array[][] = [[], []];
    const pump = async (i: 0 | 1) => {
      const reader = readers[i]!;
      const into = chunks[i]!;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          const room = maxOutputBytes - total;
          if (value.length > room) {
            if (room > 0) into.push(value.subarray(0, room));
            total = maxOutputBytes;
            truncated = true;
            void kill();
            return;
          }
          into.push(value);
          total += value.length;
        }
      } catch {
        // The stream was cancelled (cap or drain grace).
      } finally {
        await reader.cancel().catch(() => {});
      }
    };
    const pumps = Promise.all([pump(0), pump(1)]);
    const timer = setTimeout(() => {
      timedOut = true;
      void kill();
    }, timeoutMs);

    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      clearTimeout(timer);
    }
    if (killing) await killing;
    // A grandchild may hold the pipes open: do not wait for EOF forever.
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      pumps,
      new Promise<void>((resolve) => {
        grace = setTimeout(() => {
          for (const r of readers) r.cancel().catch(() => {});
          resolve();
        }, DRAIN_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    await pumps;

    return {
      code: status.code,
      stdout: concat(chunks[0]!),
      stderr: concat(chunks[1]!),
      timedOut,
      truncated,
    };
  },
};

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
