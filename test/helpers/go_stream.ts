/**
 * Builds and runs `test/go-stream`, an independent streaming client on docker/spdystream (the
 * SPDY library of client-go's executor): the HTTP upgrade to SPDY/3.1 and the remotecommand
 * v4 and port-forward protocols.
 *
 * Needs Debian's `golang-go` and `golang-github-docker-spdystream-dev` (built in GOPATH mode
 * against /usr/share/gocode).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { denoRunner, text } from "../../src/process.ts";
import { buildGoProgram } from "./go_build.ts";

const SOURCE = fileURLToPath(new URL("../go-stream/", import.meta.url));
const APT_HINT = "install the Debian packages golang-go and golang-github-docker-spdystream-dev";

/**
 * Builds the client once per process into a temporary directory (removed at exit).
 *
 * @returns The path of the binary.
 * @throws {Error} When `go` is missing or the build fails (with the compiler's output).
 */
export function buildGoStream(): Promise<string> {
  return buildGoProgram(SOURCE, {
    name: "go-stream",
    what: "Go stream client",
    hint: APT_HINT,
  });
}

/** What one run of the client left. */
export interface GoStreamResult {
  code: number;
  stdout: string;
  stderr: string;
  /** What the error stream carried (exec with a status file), else "". */
  status: string;
}

/**
 * Runs the client: `go-stream <args...>`, feeding `stdin` when given.
 *
 * @param args e.g. `["exec", "-stderr", url]`; `-status` is added for exec.
 * @param options.stdin Bytes for the client's stdin.
 * @param options.timeoutMs Kill the client after this long. @default 60000
 */
export async function goStream(
  args: string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<GoStreamResult> {
  const bin = await buildGoStream();
  const dir = await Deno.makeTempDir({ prefix: "ocid-go-stream-run-" });
  try {
    const statusFile = `${dir}/status`;
    const full = args[0] === "exec" ? ["exec", "-status", statusFile, ...args.slice(1)] : args;
    const res = await denoRunner.run(bin, full, {
      ...(options.stdin !== undefined ? { stdin: options.stdin } : {}),
      check: false,
      timeoutMs: options.timeoutMs ?? 60_000,
    });
    const status = await Deno.readTextFile(statusFile).catch(() => "");
    return { code: res.code, stdout: text(res.stdout), stderr: text(res.stderr), status };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
