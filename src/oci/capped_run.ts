/**
 * Runs a program whose output may be unbounded (an exec in a container), keeping at most
 * `maxOutputBytes` of its stdout and stderr together. Past the cap it stops reading and ends
 * the program, so a flood cannot exhaust ocid's memory (CVE-2022-1708). The plain
 * {@linkcode Runner} of `src/process.ts` buffers everything and is not fit for this.
 *
 * Each stream is read (BYOB) into one 64 KiB buffer that is reused, and copied into one kept
 * buffer that doubles as needed up to the cap: no allocation per read, no list of chunks and
 * no copy to join them at the end.
 *
 * @module
 */

/** The program as {@linkcode CappedRunOptions.kill} sees it. */
export interface CappedProgram {
  kill(signal: Deno.Signal): void;
  /** Settles when the program has exited. */
  readonly status: Promise<unknown>;
}

/** Options of {@linkcode CappedRunner.run}. */
export interface CappedRunOptions {
  /** Kill the program after this many milliseconds. */
  timeoutMs: number;
  /** Kill the program when this aborts (its caller went away); not a timeout. */
  signal?: AbortSignal | undefined;
  /** Keep at most this many bytes of stdout plus stderr; kill the program past it. */
  maxOutputBytes: number;
  /** Complete environment (not merged with ocid's); inherited when absent. */
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Ends the program at the timeout or past the cap; the runner waits for it to exit. A
   * caller whose program must reap what it started (`runc exec`) kills that first and lets
   * the program exit by itself. A rejection is ignored and the program gets SIGKILL.
   * @default (program) => program.kill("SIGKILL")
   */
  kill?: (program: CappedProgram) => Promise<void> | void;
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
/** Size of each stream's read buffer (what one read can bring). */
const SCRATCH_BYTES = 64 * 1024;

/** The default capped runner, on `Deno.Command`. */
export const denoCappedRunner: CappedRunner = {
  async run(cmd, args, options) {
    const { timeoutMs, maxOutputBytes, env, cwd } = options;
    const child = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(env ? { env, clearEnv: true } : {}),
      ...(cwd ? { cwd } : {}),
    }).spawn();

    let truncated = false;
    let timedOut = false;
    let killing: Promise<void> | undefined;
    const kill = () => {
      killing ??= (async () => {
        try {
          await (options.kill ?? ((p) => p.kill("SIGKILL")))(child);
        } catch {
          try {
            child.kill("SIGKILL");
          } catch { /* already exited */ }
        }
      })();
      return killing;
    };

    const outputs = [new CappedBuffer(), new CappedBuffer()] as const;
    const room = () => maxOutputBytes - outputs[0].length - outputs[1].length;
    const readers = [
      child.stdout.getReader({ mode: "byob" }),
      child.stderr.getReader({ mode: "byob" }),
    ];
    const pump = async (i: 0 | 1) => {
      const reader = readers[i]!;
      const out = outputs[i];
      try {
        for (;;) {
          const free = room();
          // At the cap, one more byte tells a flood (kill) from output that ends right there.
          const { done, value } = await reader.read(out.readView(Math.max(free, 1)));
          if (done) return out.ended(value);
          if (free <= 0) {
            truncated = true;
            void kill();
            return;
          }
          out.append(value, maxOutputBytes);
          // Both streams read at once: together they may have passed the cap.
          if (room() < 0) {
            out.drop(-room());
            truncated = true;
            void kill();
            return;
          }
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
    const onAbort = () => void kill();
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });

    let status: Deno.CommandStatus;
    try {
      status = await child.status;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
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
      stdout: outputs[0].bytes(),
      stderr: outputs[1].bytes(),
      timedOut,
      truncated,
    };
  },
};

/**
 * One stream's output. Reads go into a small scratch buffer (a BYOB read detaches the buffer
 * it is given and hands back a view of the same memory, which {@linkcode append} adopts
 * again); its bytes are copied into the kept buffer, which doubles as needed but never past
 * the bytes it may hold. A cancelled read loses the scratch buffer, never kept output.
 */
class CappedBuffer {
  #scratch: Uint8Array<ArrayBuffer> = new Uint8Array(SCRATCH_BYTES);
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #length = 0;

  /** Bytes kept so far. */
  get length(): number {
    return this.#length;
  }

  /** Where the next read goes: at most `limit` bytes. */
  readView(limit: number): Uint8Array<ArrayBuffer> {
    return this.#scratch.subarray(0, Math.min(this.#scratch.length, limit));
  }

  /**
   * Keeps what a read put into the view of {@linkcode readView}, and takes its buffer back.
   *
   * @param view What the read returned.
   * @param most The most bytes this buffer may ever need to hold.
   */
  append(view: Uint8Array<ArrayBuffer>, most: number): void {
    this.#scratch = new Uint8Array(view.buffer);
    const need = this.#length + view.byteLength;
    if (need > this.#buf.length) {
      const size = Math.min(Math.max(need, this.#buf.length * 2), Math.max(need, most));
      const grown = new Uint8Array(size);
      grown.set(this.#buf.subarray(0, this.#length));
      this.#buf = grown;
    }
    this.#buf.set(view, this.#length);
    this.#length = need;
  }

  /** Takes the scratch buffer back after the read that ended the stream. */
  ended(view: Uint8Array<ArrayBuffer> | undefined): void {
    if (view) this.#scratch = new Uint8Array(view.buffer);
  }

  /** Forgets the last `n` bytes kept. */
  drop(n: number): void {
    this.#length -= Math.min(n, this.#length);
  }

  /** The bytes kept (a view, no copy). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#length);
  }
}
