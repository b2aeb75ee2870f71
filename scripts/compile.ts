/**
 * Builds the single-file `dist/ocid` with `deno compile`, embedding `proto/` (the CRI proto
 * is read at run time) and granting all permissions.
 *
 * `deno compile` joins the program to `denort`, Deno's runtime-only binary, which it would
 * normally download from dl.deno.land. That is not reachable here, so a local `denort` of
 * the same Deno version must be given in `DENORT_BIN` (deno compile reads that variable).
 * The full `deno` binary does not work in its place: the result starts a REPL.
 *
 * Usage:
 * ```sh
 * DENORT_BIN=/path/to/denort deno run -A scripts/compile.ts [--output dist/ocid]
 * ```
 *
 * @module
 */
import { existsSync, realpathSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DENO_FLAGS } from "../src/v8_flags.ts";

/** The repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Options of {@linkcode compileArgs}. */
export interface CompileOptions {
  /** Output binary. @default "<root>/dist/ocid" */
  output?: string;
  /** Entry module. @default "<root>/src/main.ts" */
  entry?: string;
}

/**
 * Modules loaded by URL at run time as worker threads, which `deno compile` cannot find by
 * itself: the port-forward dialer. A unit test checks
 * that every `new Worker(new URL(...))` under src/ is listed here.
 */
export const WORKER_MODULES = [
  "src/stream/port_forward_worker.ts",
];

/** The arguments of `deno compile` for ocid. */
export function compileArgs(options: CompileOptions = {}): string[] {
  return [
    "compile",
    "-A",
    ...DENO_FLAGS,
    "--include",
    join(ROOT, "proto"),
    ...WORKER_MODULES.flatMap((m) => ["--include", join(ROOT, m)]),
    "--output",
    options.output ?? join(ROOT, "dist", "ocid"),
    options.entry ?? join(ROOT, "src", "main.ts"),
  ];
}

/**
 * Checks `DENORT_BIN` and explains what to do when it is unusable.
 *
 * @returns an error message, or undefined when it looks usable
 */
export function checkDenort(denort: string | undefined): string | undefined {
  const version = Deno.version.deno;
  if (!denort) {
    return `DENORT_BIN is not set. deno compile needs denort (the runtime-only Deno binary) ` +
      `of Deno ${version} and cannot download it here. Get denort-x86_64-unknown-linux-gnu.zip ` +
      `of v${version} on a machine with access to dl.deno.land (or a distribution's denort ` +
      `package), then run: DENORT_BIN=/path/to/denort deno task compile`;
  }
  if (!existsSync(denort) || !statSync(denort).isFile()) {
    return `DENORT_BIN is "${denort}", which is not a file; point it at a denort binary of ` +
      `Deno ${version}`;
  }
  if (realpathSync(denort) === realpathSync(Deno.execPath())) {
    return `DENORT_BIN is "${denort}", the full deno binary; a program compiled onto it ` +
      `starts a REPL instead of ocid. Point it at denort of Deno ${version}`;
  }
  return undefined;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { output: { type: "string" } },
    strict: true,
  });
  const denort = Deno.env.get("DENORT_BIN");
  const problem = checkDenort(denort);
  if (problem) {
    console.error(`compile: ${problem}`);
    return 1;
  }
  const entry = join(ROOT, "src", "main.ts");
  if (!existsSync(entry)) {
    console.error(`compile: Cannot find the entry module ${entry}`);
    return 1;
  }
  const output = values.output ? resolve(values.output) : join(ROOT, "dist", "ocid");
  await Deno.mkdir(dirname(output), { recursive: true });
  const args = compileArgs({ output, entry });
  console.error(`compile: ${Deno.execPath()} ${args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { DENORT_BIN: denort as string },
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!status.success) {
    console.error(`compile: deno compile failed with exit code ${status.code}`);
    return status.code || 1;
  }
  // Smoke test: the binary must run ocid, not a REPL.
  const smoke = await new Deno.Command(output, {
    args: ["version"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const said = new TextDecoder().decode(smoke.stdout) + new TextDecoder().decode(smoke.stderr);
  if (!smoke.success || /REPL/.test(said)) {
    console.error(`compile: ${output} does not run ocid ("version" said: ${said.trim()})`);
    return 1;
  }
  console.error(`compile: built ${output}: ${said.trim()}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
