/**
 * Builds and runs `test/go-ws`, an independent WebSocket client of ocid's streaming server on
 * gorilla/websocket (see its main.go for the modes).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { denoRunner, text } from "../../src/process.ts";
import { buildGoProgram } from "./go_build.ts";

const SOURCE = fileURLToPath(new URL("../go-ws/", import.meta.url));

/** What a run of go-ws left. */
export interface GoWsResult {
  code: number;
  stdout: string;
  stderr: string;
  /** What channel 3 (error) carried, for exec. */
  status: string;
}

/**
 * Runs go-ws with `args` (`exec URL -protocol P ...`).
 *
 * @param args the mode, the URL and flags
 * @param options stdin for the client and a timeout
 */
export async function goWs(
  args: string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<GoWsResult> {
  const bin = await buildGoProgram(SOURCE, {
    name: "go-ws",
    what: "Go WebSocket client",
    hint: "install the Debian packages golang-go and golang-github-gorilla-websocket-dev",
  });
  const dir = await Deno.makeTempDir({ prefix: "ocid-go-ws-run-" });
  try {
    const statusFile = `${dir}/status`;
    const full = args[0] === "exec" ? [...args, "-status", statusFile] : args;
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
