/**
 * The Deno and V8 flags every way of starting the daemon passes (`deno run`, the
 * `deno compile`d binary, scripts/run.sh, the installed launcher, `deno task start`, the
 * benchmark and the tests), before the script: {@linkcode DENO_FLAGS}.
 *
 * `--max-semi-space-size=1` caps V8's young generation at 1 MiB per semi-space. By default it
 * grows to 16 MiB during start-up's allocation burst (loading the CRI proto, the stores) and
 * never shrinks, so an idle daemon kept the pages. Measured here (idle 5 s after start, then
 * after a pod lifecycle): 89 -> 80 MiB and 99 -> 87 MiB RSS; idle after 60 pods were started at
 * concurrency 10 and removed: 131 -> 108 MiB. Pods per second and the daemon's CPU time stayed
 * within the run-to-run noise (alternated runs, 20 pods each).
 *
 * `--no-code-cache` turns off Deno's V8 code cache (`$DENO_DIR/v8_code_cache_v2`, an SQLite
 * file it maps into memory). With the cache, every module's cached bytecode is read in at load,
 * functions an idle daemon never calls included, and the mapped file counts in RSS. Measured here
 * (median of 5 starts each): idle 5 s after start 76 -> 72 MiB; idle after pulling two images and
 * a pod lifecycle (the benchmark's warm-up) 87 -> 83 MiB. Start-up (spawn to the first answered
 * Version) takes about 50 ms longer: 360 -> 414 ms. RPC latencies stayed within the noise of
 * alternated benchmark runs.
 *
 * @module
 */

/** The V8 flags, comma-separated as `--v8-flags` takes them. */
export const V8_FLAGS = "--max-semi-space-size=1";

/** The `deno run` / `deno compile` argument carrying {@linkcode V8_FLAGS}. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS}`;

/** Deno's flag turning off its V8 code cache. */
export const NO_CODE_CACHE = "--no-code-cache";

/** Every flag `deno run` / `deno compile` gets before the script, in this order. */
export const DENO_FLAGS: readonly string[] = [NO_CODE_CACHE, V8_FLAGS_ARG];
