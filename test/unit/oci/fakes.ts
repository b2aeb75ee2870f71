/** Fakes of the seams of src/oci for unit tests. */
import type { Runner, RunOptions, RunResult } from "../../../src/process.ts";
import type {
  CappedRunner,
  CappedRunOptions,
  CappedRunResult,
} from "../../../src/oci/capped_run.ts";
import type { SpawnConmon, SpawnConmonResult } from "../../../src/oci/conmon_spawn.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { INIT_COMM } from "../../../src/oci/exec_fifo.ts";

const enc = new TextEncoder();

/** One recorded call of the fake runner. */
export interface Call {
  cmd: string;
  args: string[];
  options: RunOptions | undefined;
}

/** A Runner answering from a script keyed by the runtime verb (the arg after `--root R`). */
export class FakeRunner implements Runner {
  calls: Call[] = [];
  #answers = new Map<string, { code?: number; stdout?: string; stderr?: string }[]>();

  /** Queues an answer for the next call of `verb`. */
  answer(verb: string, a: { code?: number; stdout?: string; stderr?: string }): this {
    const q = this.#answers.get(verb) ?? [];
    q.push(a);
    this.#answers.set(verb, q);
    return this;
  }

  run(cmd: string, args: string[], options?: RunOptions): Promise<RunResult> {
    this.calls.push({ cmd, args, options });
    const verb = args[2] ?? "";
    const a = this.#answers.get(verb)?.shift() ?? {};
    return Promise.resolve({
      code: a.code ?? 0,
      stdout: enc.encode(a.stdout ?? ""),
      stderr: enc.encode(a.stderr ?? ""),
    });
  }

  /** Args of every call, for compact assertions. */
  argv(): string[][] {
    return this.calls.map((c) => c.args);
  }
}

/** A CappedRunner that records its call and returns a fixed result. */
export class FakeCappedRunner implements CappedRunner {
  calls: { cmd: string; args: string[]; options: CappedRunOptions; process: unknown }[] = [];
  readonly result: CappedRunResult;
  /** @param result What every run returns; by default exit 0, no output. */
  constructor(result: Partial<CappedRunResult> = {}) {
    this.result = {
      code: 0,
      stdout: new Uint8Array(),
      stderr: new Uint8Array(),
      timedOut: false,
      truncated: false,
      ...result,
    };
  }
  async run(cmd: string, args: string[], options: CappedRunOptions): Promise<CappedRunResult> {
    const file = args[args.indexOf("--process") + 1]!;
    const process = JSON.parse(await Deno.readTextFile(file));
    this.calls.push({ cmd, args, options, process });
    return this.result;
  }
}

/** A spawnConmon fake returning `result` (or throwing `error`) and recording its args. */
export function fakeSpawn(
  result: SpawnConmonResult | Error,
): SpawnConmon & { calls: { path: string; args: string[]; cwd: string }[] } {
  const calls: { path: string; args: string[]; cwd: string }[] = [];
  const fn = (path: string, args: string[], options: { cwd: string }) => {
    calls.push({ path, args, cwd: options.cwd });
    return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
  };
  return Object.assign(fn, { calls });
}

/**
 * A stand-in for `runc init` after `runc create`: a bash named as runc names its init that
 * opens the exec FIFO for writing (waiting for a reader), writes one byte, closes it and execs
 * `sleep` (or runs `script` instead). Returns the child and its state dir (made in a temp dir
 * unless given) and bundle.
 */
export async function fakeRuncInit(
  options: { script?: string; hooks?: unknown; comm?: string; stateDir?: string } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-fifo-" });
  const stateDir = options.stateDir ?? join(dir, "state");
  const bundle = join(dir, "bundle");
  await Deno.mkdir(stateDir, { recursive: true });
  await Deno.mkdir(bundle);
  const fifo = join(stateDir, "exec.fifo");
  const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.equal(mk.code, 0);
  await Deno.writeTextFile(
    join(bundle, "config.json"),
    JSON.stringify({ ociVersion: "1.0.2", process: { args: ["sleep"] }, hooks: options.hooks }),
  );
  const script = options.script ??
    `exec 3>"$FIFO"; printf 0 >&3; exec 3>&-; exec sleep 30`;
  const child = new Deno.Command("bash", {
    args: ["-c", `printf '%s' "$COMM" > /proc/$$/comm; ${script}`],
    env: { FIFO: fifo, COMM: options.comm ?? INIT_COMM },
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Named as runc's init before the test goes on.
  for (let i = 0; i < 200; i++) {
    const comm = await Deno.readTextFile(`/proc/${child.pid}/comm`).catch(() => "");
    if (comm.trim() === (options.comm ?? INIT_COMM)) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return {
    child,
    stateDir,
    bundle,
    fifo,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}
