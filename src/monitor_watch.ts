/**
 * The monitors' watch. A container's conmon (and an infra container's) is the only witness of
 * its exit: it waits for the process and writes the exit file that `src/exit_watcher.ts` reads.
 * When conmon dies first (killed by hand, or by the OOM killer), nothing would ever record the
 * exit: ContainerStatus would say RUNNING for ever, the kubelet would never restart the
 * container, and its output would go nowhere (conmon held the other end of its pipes). As
 * containerd does when a shim dies, such a container is killed and its exit recorded now: code
 * 255, reason `Unknown`, a message naming conmon; an infra container's pod becomes NOTREADY.
 *
 * Every `intervalMs` the watch reads `/proc/<conmon pid>/stat` of each created or running
 * container and of each ready pod with an infra container: no process is spawned. A monitor
 * must be seen gone on two checks in a row, with no exit delivered meanwhile, before anything
 * is done: a conmon that writes the exit file exits at once, and the exit watcher delivers the
 * file a moment later. An exit file still undelivered by then (an inotify event lost, a file
 * the watcher gave up on) is read and delivered here: the watch is the exit watcher's safety
 * net too.
 *
 * @module
 */
import { join } from "node:path";
import { exists } from "./exists.ts";
import type { ExitEvent } from "./exit_hub.ts";
import { readExitFile } from "./oci/exits.ts";
import type { Deps } from "./server/deps.ts";

/** What the watch uses. */
export type MonitorWatchDeps =
  & Pick<Deps, "log" | "containers" | "sandboxes" | "holders" | "exits">
  & {
    runtime: Pick<Deps["runtime"], "kill" | "conmonAlive">;
    /** conmon's exit dir (`<runroot>/exits`). */
    exitDir: string;
  };

/** Options of {@linkcode MonitorWatch}. */
export interface MonitorWatchOptions {
  /** Time between checks. @default 5000 */
  intervalMs?: number;
}

/** A process watched through its conmon. */
interface Watched {
  id: string;
  conmonPid: number;
  /** Signal every process of it (a container in a PID namespace it does not own). */
  all: boolean;
}

/** The message of an exit recorded because the monitor died. */
export const MONITOR_GONE =
  "Its monitor (conmon) exited before it, so its exit status cannot be known; it was killed";

/** Watches the conmon of every live container and infra container; see the module doc. */
export class MonitorWatch {
  readonly #deps: MonitorWatchDeps;
  readonly #intervalMs: number;
  /** IDs whose monitor was seen gone on the last check. */
  readonly #suspects = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #checking: Promise<unknown> | undefined;
  #closed = false;

  constructor(deps: MonitorWatchDeps, options: MonitorWatchOptions = {}) {
    this.#deps = deps;
    this.#intervalMs = options.intervalMs ?? 5_000;
  }

  /** Starts the periodic checks; the timer never keeps the daemon alive. */
  start(): void {
    if (!this.#closed && this.#timer === undefined) this.#schedule();
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#checking = this.check()
        .catch((err) => this.#deps.log.warn("Checking the monitors failed", { err }))
        .finally(() => {
          this.#checking = undefined;
          if (!this.#closed) this.#schedule();
        });
    }, this.#intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** Stops the checks; waits for one under way. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#checking;
  }

  /**
   * One check: notes the monitors found gone, and ends what was already found so on the check
   * before.
   *
   * @returns The IDs whose exits were recorded by this check.
   */
  async check(): Promise<string[]> {
    const watched = this.#watched();
    const ended: string[] = [];
    const live = new Set(watched.map((w) => w.id));
    for (const id of this.#suspects) if (!live.has(id)) this.#suspects.delete(id);
    await Promise.all(watched.map(async (w) => {
      if (
        this.#deps.exits.exited(w.id) !== undefined ||
        await this.#deps.runtime.conmonAlive(w.conmonPid)
      ) {
        this.#suspects.delete(w.id);
        return;
      }
      if (!this.#suspects.has(w.id)) {
        this.#suspects.add(w.id);
        return;
      }
      this.#suspects.delete(w.id);
      await this.#end(w);
      ended.push(w.id);
    }));
    return ended;
  }

  #watched(): Watched[] {
    const out: Watched[] = [];
    for (const c of this.#deps.containers.list()) {
      const { state, conmonPid } = c.status;
      if ((state === "CONTAINER_RUNNING" || state === "CONTAINER_CREATED") && conmonPid > 0) {
        out.push({ id: c.id, conmonPid, all: !c.metadata.ownPidNamespace });
      }
    }
    for (const s of this.#deps.sandboxes.list()) {
      const { state, conmonPid, infraExited } = s.status;
      if (state !== "SANDBOX_READY" || infraExited || conmonPid <= 0) continue;
      if (this.#deps.holders.of(s).kind !== "infra") continue;
      out.push({ id: s.id, conmonPid, all: false });
    }
    return out;
  }

  async #end(w: Watched): Promise<void> {
    const file = join(this.#deps.exitDir, w.id);
    const written = await readExitFile(file).catch(() => undefined);
    if (written) {
      this.#deps.log.warn("An exit file was not delivered by the exit watcher: delivering it", {
        id: w.id,
        exitCode: written.exitCode,
      });
      this.#deliver(w.id, written);
      return;
    }
    this.#deps.log.warn("A monitor (conmon) is gone without an exit: killing what it watched", {
      id: w.id,
      conmonPid: w.conmonPid,
    });
    await this.#deps.runtime.kill(w.id, "KILL", { all: w.all }).catch((err) =>
      this.#deps.log.warn("Cannot kill a process whose monitor is gone", { id: w.id, err })
    );
    const unreadable = await exists(file);
    this.#deliver(w.id, {
      exitCode: 255,
      finishedAt: new Date(),
      unknown: unreadable ? `${MONITOR_GONE}; its exit file could not be read` : MONITOR_GONE,
    });
  }

  /** Delivers an exit unless one came meanwhile (the first one delivered stands). */
  #deliver(id: string, event: ExitEvent): void {
    if (this.#deps.exits.exited(id) === undefined) this.#deps.exits.deliver(id, event);
  }
}
