/**
 * A {@linkcode Runner} decorator that counts each program run (and each failed one) in the
 * metrics, by the program's basename.
 *
 * @module
 */
import { basename } from "node:path";
import type { SpawnConmon } from "../oci/conmon_spawn.ts";
import type { Runner } from "../process.ts";
import type { MetricsRecorder } from "./recorder.ts";

/**
 * Wraps `runner` so that every run is counted.
 *
 * @param runner the runner that does the work
 * @param metrics receives `processSpawned` per run and `processFailed` when the program could
 *   not start, timed out or exited non-zero
 * @returns a runner with the same behaviour
 */
export function countingRunner(runner: Runner, metrics: MetricsRecorder): Runner {
  return {
    async run(cmd, args, options) {
      const program = basename(cmd);
      metrics.processSpawned(program);
      try {
        const res = await runner.run(cmd, args, options);
        if (res.code !== 0) metrics.processFailed(program);
        return res;
      } catch (err) {
        metrics.processFailed(program);
        throw err;
      }
    },
  };
}

/**
 * Wraps conmon's spawn so that each spawn is counted as a `conmon` process, and each failed
 * creation (conmon failed, or reported no pid because the runtime failed) as a conmon spawn
 * failure.
 *
 * @param spawn the spawn that does the work
 * @param metrics where to count
 * @returns a spawn with the same behaviour
 */
export function countingSpawnConmon(spawn: SpawnConmon, metrics: MetricsRecorder): SpawnConmon {
  return async (path, args, options) => {
    metrics.processSpawned(basename(path));
    try {
      const result = await spawn(path, args, options);
      const pid = result.syncMessage.data ?? result.syncMessage.pid;
      if (pid === undefined || pid <= 0) metrics.conmonSpawnFailed();
      return result;
    } catch (err) {
      metrics.processFailed(basename(path));
      metrics.conmonSpawnFailed();
      throw err;
    }
  };
}
