/**
 * What RunPodSandbox and CreateContainer share for a client that gives up (the kubelet's
 * deadline passes under load) and retries with the same request: a request for a name whose
 * creation is in flight waits for that creation and gets its ID; when the client of a creation
 * gave up before it finished, the ID is kept for the retry, which gets it once. Otherwise a
 * second request for the name of an existing object fails as the store says (ALREADY_EXISTS).
 * The kubelet retries a CreateContainer with the same attempt, so without this each retry under
 * load failed with "name is reserved", and a pod's start waited for the orphan's clean-up.
 *
 * @module
 */
import type { Logger } from "../log.ts";

/** Creations under way and results kept for retries, by name. */
export class RetriedCreations {
  /** Name -> the creation that will return its ID; `joined` once a retry waited for it. */
  readonly #inFlight = new Map<string, { promise: Promise<string>; joined: boolean }>();
  /** Name -> ID of an object whose client gave up before it was made. */
  readonly #kept = new Map<string, string>();

  /**
   * Creates `name` with `create`, or answers a retry with the ID of the creation under way or
   * kept for it.
   *
   * @param options.exists Whether an ID is still there (a kept one may have been removed since).
   * @param options.signal The caller's: aborted when it gives up.
   * @param options.log Where a joined or kept answer is logged, under `options.rpc`.
   */
  async run(
    name: string,
    create: () => Promise<string>,
    options: {
      exists: (id: string) => boolean;
      signal?: AbortSignal | undefined;
      log?: Pick<Logger, "info">;
      rpc?: string;
    },
  ): Promise<string> {
    const { log, rpc = "" } = options;
    const pending = this.#inFlight.get(name);
    if (pending) {
      log?.info(`${rpc}: "${name}" is being created, waiting for it`, { name });
      pending.joined = true;
      const id = await pending.promise.catch(() => undefined);
      if (id !== undefined && options.exists(id)) return id;
    }
    const kept = this.#kept.get(name);
    if (kept !== undefined) {
      this.#kept.delete(name);
      if (options.exists(kept)) {
        log?.info(`${rpc}: returning what was made for a request that gave up`, { name, id: kept });
        return kept;
      }
    }
    // Another waiter started a new creation meanwhile: join it.
    if (this.#inFlight.has(name)) return await this.run(name, create, options);
    const creation = { promise: create(), joined: false };
    this.#inFlight.set(name, creation);
    try {
      const id = await creation.promise;
      // The client gave up and no retry has the ID yet: keep it for the retry.
      if (options.signal?.aborted && !creation.joined) this.#kept.set(name, id);
      return id;
    } finally {
      if (this.#inFlight.get(name) === creation) this.#inFlight.delete(name);
    }
  }
}

const byStore = new WeakMap<object, RetriedCreations>();

/** The creations of one store (one per daemon: tests run several daemons' stores in a process). */
export function retriedCreationsOf(store: object): RetriedCreations {
  let c = byStore.get(store);
  if (!c) byStore.set(store, c = new RetriedCreations());
  return c;
}
