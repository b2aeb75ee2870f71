/**
 * The V8 flags every way of starting the daemon passes (`deno run --v8-flags=...`, the
 * `deno compile`d binary, scripts/run.sh, the installed launcher, the benchmark and the tests).
 *
 * `--max-semi-space-size=1` caps V8's young generation at 1 MiB per semi-space. By default it
 * grows to 16 MiB during start-up's allocation burst (loading the CRI proto, the stores) and
 * never shrinks, so an idle daemon kept the pages. Measured here (idle 5 s after start, then
 * after a pod lifecycle): 89 → 80 MiB and 99 → 87 MiB RSS; idle after 60 pods were started at
 * concurrency 10 and removed: 131 → 108 MiB. Pods per second and the daemon's CPU time stayed
 * within the run-to-run noise (alternated runs, 20 pods each).
 *
 * @module
 */

/** The flags, comma-separated as `--v8-flags` takes them. */
export const V8_FLAGS = "--max-semi-space-size=1";

/** The `deno run` / `deno compile` argument carrying {@linkcode V8_FLAGS}. */
export const V8_FLAGS_ARG = `--v8-flags=${V8_FLAGS}`;
