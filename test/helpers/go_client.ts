/**
 * Builds and runs `test/go-client`, a Go gRPC client that dials a unix socket the way kubelet,
 * crictl and critest before 1.31 do (the socket path becomes the HTTP/2 `:authority`) and calls
 * any unary method with raw protobuf bytes.
 *
 * Needs Debian's `golang-go` and `golang-google-grpc-dev` (grpc-go 1.33 under
 * /usr/share/gocode, built in GOPATH mode).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { denoRunner, text } from "../../src/process.ts";
import { buildGoProgram } from "./go_build.ts";

/** What one call returned: the gRPC status code (0 is OK), its message and the response. */
export interface GoInvokeResult {
  code: number;
  message: string;
  response: Uint8Array;
}

/** Options of {@linkcode goInvoke}. */
export interface GoInvokeOptions {
  /** Deadline of all calls, dial included, in milliseconds. @default 10000 */
  timeoutMs?: number;
  /**
   * Make the call this many times on one connection, so later requests reuse HPACK
   * dynamic-table entries; the last result (or the first failure) is returned. @default 1
   */
  count?: number;
}

const SOURCE = fileURLToPath(new URL("../go-client/", import.meta.url));
const APT_HINT = "install the Debian packages golang-go and golang-google-grpc-dev";

/**
 * Builds the Go client once per process into a temporary directory (removed at exit).
 * @returns The path of the binary.
 * @throws {Error} When `go` is missing or the build fails (with the compiler's output).
 */
export function buildGoClient(): Promise<string> {
  return buildGoProgram(SOURCE, { name: "go-client", what: "Go test client", hint: APT_HINT });
}

/**
 * Calls one unary method through the Go client.
 *
 * @param bin The binary from {@linkcode buildGoClient}.
 * @param socket The unix socket path, used as is as the gRPC target (and so as `:authority`).
 * @param method The full method, like `/runtime.v1.RuntimeService/Version`.
 * @param request The serialized request message.
 * @returns The status and the serialized response (empty on error).
 * @throws {Error} When the client cannot run or prints no result (a usage or dial error).
 */
export async function goInvoke(
  bin: string,
  socket: string,
  method: string,
  request: Uint8Array,
  options: GoInvokeOptions = {},
): Promise<GoInvokeResult> {
  const { timeoutMs = 10_000, count = 1 } = options;
  const args = [`-timeout=${timeoutMs}ms`, `-count=${count}`, socket, method, "-"];
  const result = await denoRunner.run(bin, args, {
    stdin: toHex(request),
    check: false,
    timeoutMs: timeoutMs + 10_000,
  });
  const stdout = text(result.stdout).trim();
  let parsed: { code: number; message: string; response: string };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(
      `Go client gave no result for "${method}" on "${socket}" (exit ${result.code}): ` +
        (text(result.stderr).trim() || stdout),
    );
  }
  return { code: parsed.code, message: parsed.message, response: fromHex(parsed.response) };
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * One Go client process holding one connection for a whole conversation (`go-client
 * -session`), as kubelet keeps one connection to its runtime. Calls are made one at a time, in
 * the order they are made.
 *
 * @example
 * ```ts
 * await using go = GoSession.start(await buildGoClient(), socket);
 * const out = await go.invoke(criPath("Version"), encodeRequest("Version", {}));
 * ```
 */
export class GoSession implements AsyncDisposable {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = readLines(child.stdout)[Symbol.asyncIterator]();
  }

  /** The client's process id. */
  get pid(): number {
    return this.#child.pid;
  }

  /**
   * Starts the client on `socket`.
   *
   * @param bin The binary from {@linkcode buildGoClient}.
   * @param socket The unix socket path (sent as `:authority`).
   * @param options `timeoutMs` bounds each call. @default 60000
   */
  static start(bin: string, socket: string, options: { timeoutMs?: number } = {}): GoSession {
    const { timeoutMs = 60_000 } = options;
    const child = new Deno.Command(bin, {
      args: ["-session", `-timeout=${timeoutMs}ms`, socket],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    return new GoSession(child);
  }

  /**
   * Makes one call on the session's connection.
   *
   * @param method The full method, like `/runtime.v1.RuntimeService/Version`.
   * @param request The serialized request.
   * @returns The status and the serialized response.
   * @throws {Error} When the client has ended.
   */
  invoke(method: string, request: Uint8Array): Promise<GoInvokeResult> {
    const call = this.#queue.then(async () => {
      await this.#writer.write(new TextEncoder().encode(`${method} ${toHex(request)}\n`));
      const next = await this.#lines.next();
      if (next.done) throw new Error(`The Go client ended before answering "${method}"`);
      const parsed = JSON.parse(next.value) as { code: number; message: string; response: string };
      return { code: parsed.code, message: parsed.message, response: fromHex(parsed.response) };
    });
    this.#queue = call.catch(() => {});
    return call;
  }

  /** Ends the session (closes stdin) and waits for the client to exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#writer.close().catch(() => {});
    // Drain what is left, so the stdout stream ends with the process.
    while (!(await this.#lines.next()).done) { /* unanswered output */ }
    await this.#child.status;
  }
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
    }
  }
}
