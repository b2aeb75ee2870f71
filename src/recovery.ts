/**
 * Start-up reconciliation: the stores were loaded from disk; make them agree with reality.
 * No RPC is served before this ends.
 *
 * - A READY sandbox whose holder (`src/sandbox/holder.ts`) no longer holds its namespaces (its
 *   infra process is gone, or its pinned namespaces are unmounted) is recorded as exited.
 * - A container or infra process with an exit file (conmon's `<runroot>/exits/<id>` or
 *   `<persist dir>/exit`) is recorded as exited with that code and the file's mtime, so a
 *   container that exited while ocid was down reports its real exit.
 * - One that the runtime still reports running (or created, for a created container) keeps
 *   its state: containers survive a daemon restart (conmon is their parent, not ocid).
 * - One that is gone without an exit file is recorded as exited with code 255 now, reason
 *   `Unknown` (containerd's code and reason for it). When the
 *   runtime cannot be listed (after retries), nothing is taken for gone: only exit files count.
 * - Recording an exit starts the runtime's cleanup (`src/exit_cleanup.ts`), as at run time; so
 *   does an exited container or infra container that the runtime still lists as stopped (the
 *   daemon stopped before its cleanup ended).
 * - A READY sandbox whose network namespace is gone is torn down and NOTREADY.
 * - A container whose sandbox record or bundle is gone is removed with what it holds.
 *
 * Nothing here is fatal: what cannot be repaired is logged and left for the garbage sweep.
 *
 * @module
 */
import { join } from "node:path";
import { exists } from "./exists.ts";
import type { ExitEvent } from "./exit_hub.ts";
import { readExitFile } from "./oci/exits.ts";
import type { Deps } from "./server/deps.ts";
import { dateNs } from "./server/time.ts";

/** What recovery did, for the start-up log. */
export interface RecoveryReport {
  sandboxesReady: number;
  sandboxesNotReady: number;
  containersRunning: number;
  /** IDs recorded as exited now, with the source of the exit code. */
  exited: { id: string; exitCode: number; from: "exit-file" | "gone" }[];
  /** Container IDs removed because their sandbox or bundle was gone. */
  removed: string[];
}

/** What recovery uses. */
export type RecoveryDeps = Pick<
  Deps,
  | "config"
  | "log"
  | "runtime"
  | "network"
  | "netns"
  | "sandboxes"
  | "containers"
  | "exits"
  | "cleanups"
  | "images"
  | "holders"
>;

/** Reconciles the loaded stores with the runtime and conmon's exit files; see the module doc. */
export async function recover(deps: RecoveryDeps): Promise<RecoveryReport> {
  const log = deps.log;
  const report: RecoveryReport = {
    sandboxesReady: 0,
    sandboxesNotReady: 0,
    containersRunning: 0,
    exited: [],
    removed: [],
  };
  const live = new Map<string, string>();
  const listed = deps.sandboxes.size + deps.containers.size === 0 ||
    await listRuntime(deps, live);
  const exitDir = join(deps.config.runroot, "exits");
  const exitOf = async (id: string, persistDir: string): Promise<ExitEvent | undefined> => {
    for (const path of [join(exitDir, id), join(persistDir, "exit")]) {
      const status = await readExitFile(path, { retries: 3, retryDelayMs: 20 }).catch(() =>
        undefined
      );
      if (status) return status;
    }
    return undefined;
  };
  const markExited = async (id: string, persistDir: string) => {
    const fromFile = await exitOf(id, persistDir);
    // Without the runtime's list, "not listed" says nothing: only an exit file is an exit.
    if (!fromFile && !listed) {
      log.warn("Keeping the recorded state: the runtime could not be asked", { id });
      return;
    }
    const event = fromFile ?? {
      exitCode: 255,
      finishedAt: new Date(),
      unknown: "The process was gone, with no exit status, when ocid started (a node reboot, " +
        "or killed while ocid was down)",
    };
    deps.exits.deliver(id, event);
    report.exited.push({ id, exitCode: event.exitCode, from: fromFile ? "exit-file" : "gone" });
  };

  const stopped = (id: string) => live.get(id) === "stopped";
  for (const sandbox of deps.sandboxes.list()) {
    if (sandbox.status.state !== "SANDBOX_READY") {
      if (sandbox.status.infraExited && stopped(sandbox.id)) deps.cleanups.start(sandbox.id);
      continue;
    }
    const alive = await deps.holders.of(sandbox).alive(sandbox, live.get(sandbox.id));
    if (!alive) await markExited(sandbox.id, sandbox.metadata.bundle);
    const netnsPath = sandbox.metadata.netnsPath;
    if (netnsPath && !(await exists(netnsPath))) {
      log.warn("The network namespace of a ready sandbox is gone; marking it NOTREADY", {
        id: sandbox.id,
        netns: netnsPath,
      });
      await deps.runtime.kill(sandbox.id, "KILL").catch(() => {});
      const meta = sandbox.metadata.config.metadata;
      try {
        await deps.network.tearDown({
          id: sandbox.id,
          netnsPath,
          podName: meta?.name ?? "",
          podNamespace: meta?.namespace ?? "",
          podUid: meta?.uid ?? "",
        });
        await deps.sandboxes.update(sandbox.id, (s) => ({
          ...s,
          state: "SANDBOX_NOTREADY",
          networkTornDown: true,
        }));
      } catch (err) {
        log.error("Cannot tear down the network of a sandbox whose netns is gone", {
          id: sandbox.id,
          error: err,
        });
        await deps.sandboxes.update(sandbox.id, (s) => ({
          ...s,
          state: "SANDBOX_NOTREADY",
          netnsLost: true,
        }));
      }
    }
  }

  for (const container of deps.containers.list()) {
    const { id, metadata } = container;
    if (!deps.sandboxes.has(metadata.sandboxId) || !(await exists(metadata.bundle))) {
      log.warn("Removing a container whose sandbox or bundle is gone", {
        id,
        sandbox: metadata.sandboxId,
        bundle: metadata.bundle,
      });
      await removeContainer(deps, id, metadata.bundle).then(
        () => report.removed.push(id),
        (err) =>
          log.error("Cannot remove a broken container; the sweep retries", { id, error: err }),
      );
      continue;
    }
    const state = container.status.state;
    if (state === "CONTAINER_EXITED") {
      if (stopped(id)) deps.cleanups.start(id);
      continue;
    }
    const status = live.get(id);
    if (status === "running" || status === "paused") {
      if (state === "CONTAINER_RUNNING") {
        report.containersRunning++;
        continue;
      }
      // Started just before a crash: the record says CREATED; the process runs.
      await deps.containers.update(id, (s) => ({
        ...s,
        state: "CONTAINER_RUNNING",
        startedAt: s.startedAt === "0" ? dateNs(new Date()) : s.startedAt,
      }));
      report.containersRunning++;
      continue;
    }
    if (status === "created" && state === "CONTAINER_CREATED") continue;
    await markExited(id, metadata.bundle);
  }
  await deps.exits.settled();
  for (const s of deps.sandboxes.list()) {
    if (s.status.state === "SANDBOX_READY") report.sandboxesReady++;
    else report.sandboxesNotReady++;
  }
  log.info("Recovered state from disk", {
    sandboxesReady: report.sandboxesReady,
    sandboxesNotReady: report.sandboxesNotReady,
    containersRunning: report.containersRunning,
    exited: report.exited.length,
    removed: report.removed.length,
  });
  return report;
}

/** Tries of `<runtime> list` at start-up, and the pause before each retry. */
const LIST_RETRY_DELAYS_MS = [100, 400];

/**
 * Fills `live` with the runtime's containers and their states, trying again after a failure.
 *
 * @returns false when every try failed: then no process may be taken for gone (a transient
 *   failure must not mark every pod dead and start deleting running containers)
 */
async function listRuntime(deps: RecoveryDeps, live: Map<string, string>): Promise<boolean> {
  for (let attempt = 0;; attempt++) {
    try {
      for (const state of await deps.runtime.list()) live.set(state.id, state.status);
      return true;
    } catch (err) {
      const delay = LIST_RETRY_DELAYS_MS[attempt];
      if (delay === undefined) {
        deps.log.error(
          "Cannot list the runtime's containers; keeping every recorded state that no exit " +
            "file contradicts",
          { error: err, tries: attempt + 1 },
        );
        return false;
      }
      deps.log.warn("Cannot list the runtime's containers; trying again", { error: err });
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function removeContainer(deps: RecoveryDeps, id: string, bundle: string): Promise<void> {
  await deps.runtime.kill(id, "KILL").catch(() => {});
  await deps.runtime.delete(id, { force: true });
  await deps.images.unmountRootfs(id);
  await deps.images.removeRootfs(id);
  await deps.containers.delete(id);
  await Deno.remove(bundle, { recursive: true }).catch(() => {});
  await Deno.remove(join(deps.config.root, "containers", id), { recursive: true }).catch(() => {});
  await Deno.remove(join(deps.config.runroot, "exits", id)).catch(() => {});
}
