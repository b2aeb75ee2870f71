/**
 * `deno run -A bench/spawn_cost.ts`: what starting a child costs a process of the daemon's
 * size. Deno spawns with `posix_spawn` (a vfork: the parent waits only for the exec) unless
 * the child needs a step between fork and exec (`detached`, an extra fd as
 * `node:child_process` makes for a fourth pipe, a gid): then it forks, copying the page
 * tables of the whole heap, and every page the parent writes afterwards takes a
 * copy-on-write fault.
 *
 * With `--heap-mb` of live objects held (about the daemon's heap), it times, interleaved:
 *
 * - `posix_spawn`: `Deno.Command` with piped stdout and stderr (how ocid runs everything);
 * - `sh fd 3`: the same running `/bin/sh -c 'exec 3>&1 1>&2; exec "$0" "$@"'` first (how
 *   ocid started conmon with its sync pipe at fd 3 before it handed conmon an inherited pipe,
 *   src/sys/child_pipe.ts; the bash fallback of src/oci/conmon_spawn.ts still takes such a step);
 * - `fork (detached)`: `Deno.Command` with `detached: true`, which forks.
 *
 * For each: the JS thread's time in `spawn()` and the time until the child's exit (p50).
 *
 * ```sh
 * deno run -A bench/spawn_cost.ts --heap-mb 90 --runs 40
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { percentile } from "./stats.ts";

/** One way of starting `/bin/true`. */
type Way = (program: string) => Deno.Command;

const piped = { stdin: "null", stdout: "piped", stderr: "piped" } as const;

/** The ways compared, by name. */
export const WAYS: Record<string, Way> = {
  "posix_spawn": (program) => new Deno.Command(program, piped),
  "sh fd 3": (program) =>
    new Deno.Command("/bin/sh", {
      ...piped,
      args: ["-c", 'exec 3>&1 1>&2; exec "$0" "$@"', program],
    }),
  "fork (detached)": (program) => new Deno.Command(program, { ...piped, detached: true }),
};

/**
 * Spawns one child and waits for it.
 *
 * @returns the JS thread's time in `spawn()` and the time until the exit, in ms
 */
export async function timeSpawn(command: Deno.Command): Promise<{ js: number; exit: number }> {
  const t0 = performance.now();
  const child = command.spawn();
  const js = performance.now() - t0;
  await Promise.all([child.stdout.cancel(), child.stderr.cancel(), child.status]);
  return { js, exit: performance.now() - t0 };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "heap-mb": { type: "string", default: "90" },
      runs: { type: "string", default: "40" },
    },
  });
  const heapMb = Number(values["heap-mb"]);
  const runs = Number(values.runs);
  // About 1 KB a piece, live until the end.
  const heap: number[][] = [];
  for (let i = 0; i < heapMb * 1024; i++) heap.push(new Array(100).fill(i));
  const js: Record<string, number[]> = {};
  const exit: Record<string, number[]> = {};
  for (let i = 0; i < runs; i++) {
    for (const [name, way] of Object.entries(WAYS)) {
      const t = await timeSpawn(way("/bin/true"));
      (js[name] ??= []).push(t.js);
      (exit[name] ??= []).push(t.exit);
    }
  }
  const rss = Deno.memoryUsage().rss / 2 ** 20;
  console.log(`RSS ${rss.toFixed(0)} MiB (${heap.length} objects held), ${runs} runs, p50:`);
  for (const name of Object.keys(WAYS)) {
    const p50 = (v: number[]) => percentile([...v].sort((a, b) => a - b), 50).toFixed(2);
    console.log(`${name.padEnd(16)} spawn() ${p50(js[name]!)} ms  exit ${p50(exit[name]!)} ms`);
  }
}
