/**
 * The runtime's cleanup after a process exits, done as soon as the exit is recorded and off the
 * RPC's path, as containerd's CRI plugin does (its exit handler deletes the task, and the shim
 * unmounts the rootfs, when the container's process exits): `runtime delete --force` (the
 * runtime's state and cgroup go) and the unmount of the container's rootfs overlay. The writable
 * layer (`upper/`), the bundle and the record stay until RemoveContainer.
 *
 * Work is tracked per ID: {@linkcode ExitCleanup.start} begins it in the background (once),
 * {@linkcode ExitCleanup.finish} (RemoveContainer, RemovePodSandbox) awaits it, and does it itself
 * when nothing ran (after a daemon restart) or the background attempt failed. Background failures
 * are logged, never left as unhandled rejections.
 *
 * A hold ({@linkcode ExitCleanup.hold}, StartContainer around `runtime start`) defers a start
 * until the hold ends, so that no `delete` runs while the runtime is still starting the process.
 *
 * @module
 */
import { crashPoint } from "./crash.ts";
import type { Logger } from "./log.ts";
import { settleAll } from "./settle.ts";

/** What the cleanup uses. */
export interface ExitCleanupDeps {
  runtime: { delete(id: string, opts?: { force?: boolean }): Promise<void> };
  images: { unmountRootfs(id: string): Promise<void> };
  log: Logger;
}

const DONE = Promise.resolve(true);

/** Resolves on the next turn of the event loop (after the I/O the current one started). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Tracks the runtime cleanup of exited processes; see the module doc. */
export class ExitCleanup {
  #deps: ExitCleanupDeps;
  /** Per ID: resolves true when the cleanup succeeded, false when it failed (logged). */
  #work = new Map<string, Promise<boolean>>();
  #holds = new Map<string, number>();
  #deferred = new Set<string>();

  constructor(deps: ExitCleanupDeps) {
    this.#deps = deps;
  }

  /**
   * Starts the cleanup of `id` in the background, unless one was started already; while `id` is
   * held, when the hold ends.
   *
   * @param id A container's ID, or a sandbox's (its infra container).
   */
  start(id: string): void {
    if (this.#work.has(id)) return;
    if (this.#holds.has(id)) {
      this.#deferred.add(id);
      return;
    }
    // The exit is recorded; nothing is cleaned yet (recovery must start it again).
    crashPoint("exit_cleanup:before_delete");
    const started = performance.now();
    // On the next turn of the event loop: spawning the runtime costs the thread a millisecond or
    // two, which the RPC that recorded the exit (StopContainer) should not wait for.
    const work = nextTurn().then(() => this.#run(id)).then(
      () => {
        this.#deps.log.debug("Cleaned up after an exit", {
          id,
          ms: (performance.now() - started).toFixed(1),
        });
        if (this.#work.get(id) === work) this.#work.set(id, DONE);
        return true;
      },
      (err) => {
        this.#deps.log.warn("Cannot clean up after an exit; removal retries", { id, error: err });
        return false;
      },
    );
    this.#work.set(id, work);
  }

  /**
   * Defers {@linkcode start} of `id` until the returned handle is disposed. Holds nest.
   *
   * @returns The hold, for `using`.
   */
  hold(id: string): Disposable {
    this.#holds.set(id, (this.#holds.get(id) ?? 0) + 1);
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        const left = (this.#holds.get(id) ?? 1) - 1;
        if (left > 0) {
          this.#holds.set(id, left);
          return;
        }
        this.#holds.delete(id);
        if (this.#deferred.delete(id)) this.start(id);
      },
    };
  }

  /**
   * Makes sure the cleanup of `id` is done: awaits the background one, or does it now when none
   * was started or it failed.
   *
   * @throws The runtime's or the unmount's error, when doing it now fails.
   */
  async finish(id: string): Promise<void> {
    this.#deferred.delete(id);
    const work = this.#work.get(id);
    if (work && (await work)) return;
    await this.#run(id);
    this.#work.set(id, DONE);
  }

  /** Forgets `id` (its object was removed). */
  forget(id: string): void {
    this.#work.delete(id);
    this.#deferred.delete(id);
  }

  /** Resolves when every cleanup started so far has ended (shutdown, tests). */
  async settled(): Promise<void> {
    await Promise.all([...this.#work.values()]);
  }

  /** The work: the runtime's delete and the unmount, both tried even when one fails. */
  async #run(id: string): Promise<void> {
    await settleAll([
      this.#deps.runtime.delete(id, { force: true }),
      this.#deps.images.unmountRootfs(id),
    ]);
  }
}
