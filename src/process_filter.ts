/**
 * The streaming twin of the Runner (`src/process.ts`): runs a program as a filter, its stdin
 * fed from a stream and its stdout handed back as a stream, with backpressure both ways. ocid
 * uses it to decompress zstd layers with Debian's `zstd`.
 *
 * The program is always reaped: when the output has been read to its end, when the reader
 * cancels (SIGKILL, and the input is cancelled), and when the input fails.
 *
 * @module
 */
import { CommandError } from "./errors.ts";

/** Bytes of the program's stderr kept for the error message. */
const STDERR_CAP = 16 * 1024;

async function readCapped(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    if (text.length < STDERR_CAP) text += decoder.decode(chunk, { stream: true });
  }
  return text.slice(0, STDERR_CAP);
}

/**
 * Pipes `input` through a program.
 *
 * @param cmd The program (looked up on PATH).
 * @param args Its arguments.
 * @param input What to write to its stdin (closed at the end of the input).
 * @returns Its stdout. The stream errors with a {@linkcode CommandError} carrying stderr when
 *   the program exits non-zero, or with the input's own error when reading the input fails.
 * @throws {Deno.errors.NotFound} When the program does not exist.
 */
export function filterThrough(
  cmd: string,
  args: string[],
  input: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = readCapped(child.stderr);
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  let inputError: unknown;
  const feeding = (async () => {
    const writer = child.stdin.getWriter();
    let writeFailed = false;
    try {
      for await (const chunk of input) {
        // A failed write means the program stopped reading: its exit status tells why.
        await writer.write(chunk).catch(() => (writeFailed = true));
        if (writeFailed) break;
      }
      await writer.close().catch(() => {});
    } catch (err) {
      inputError = err;
      await writer.abort(err).catch(() => {});
      kill();
    }
  })();
  const output = child.stdout.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await output.read();
      if (!done) {
        controller.enqueue(value);
        return;
      }
      const [status, err] = await Promise.all([child.status, stderr, feeding]);
      if (inputError !== undefined) controller.error(inputError);
      else if (status.code !== 0) {
        controller.error(new CommandError(`${cmd} ${args.join(" ")}`, status.code, err));
      } else controller.close();
    },
    async cancel(reason) {
      kill();
      await output.cancel(reason).catch(() => {});
      await Promise.all([child.status, stderr, feeding]);
    },
  }, { highWaterMark: 0 });
}
