/**
 * A {@linkcode Runner} decorator that logs, at debug level, how long each program ran:
 * `debug Ran program cmd=runc verb=start ms=4.1`. The daemon uses it when the log level is
 * debug, so a profile can tell time spent in child processes (runc, CNI plugins, mount,
 * unshare) from ocid's own time.
 *
 * @module
 */
import { basename } from "node:path";
import type { Logger } from "./log.ts";
import type { Runner } from "./process.ts";

/**
 * Wraps `runner` so that every run is timed and logged at debug level.
 *
 * @param runner the runner that does the work
 * @param logger receives one debug record per run, also when the run fails
 * @returns a runner with the same behaviour
 * @example
 * ```ts
 * const runner = timedRunner(denoRunner, createLogger("debug"));
 * await runner.run("runc", ["--root", "/run/runc", "start", "abc"]);
 * // debug Ran program cmd=runc verb=start ms=4.1
 * ```
 */
export function timedRunner(runner: Runner, logger: Logger): Runner {
  return {
    async run(cmd, args, options) {
      const started = performance.now();
      let ok = false;
      try {
        const res = await runner.run(cmd, args, options);
        ok = res.code === 0;
        return res;
      } finally {
        logger.debug("Ran program", {
          cmd: basename(cmd),
          verb: verbOf(args, options?.env),
          ok,
          ms: (performance.now() - started).toFixed(2),
        });
      }
    },
  };
}

/**
 * What a run did, for grouping: the CNI command, or the first argument that is neither an
 * option, an option's value nor a path (`runc --root R start ID` -> `start`); `-` when none.
 */
export function verbOf(args: string[], env?: Record<string, string>): string {
  if (env?.CNI_COMMAND) return env.CNI_COMMAND;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--root" || a === "-t" || a === "-o") {
      i++;
      continue;
    }
    if (!a.startsWith("-") && !a.startsWith("/")) return a;
  }
  return "-";
}
