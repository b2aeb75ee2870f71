/**
 * One {@linkcode OciRuntime} over the runtimes of several RuntimeClass handlers: `create` goes to
 * the runtime of `opts.runtimeHandler`, and every later call about an id goes to the runtime that
 * created it, known from the records (a sandbox's handler; a container's sandbox's handler), or
 * from the runtime that listed it. Handlers never seen and "" go to the default handler.
 *
 * @module
 */
import type {
  CreateOptions,
  ExecSyncOptions,
  ExecSyncResult,
  OciRuntime,
  ReopenLogOptions,
  RuntimeState,
} from "./runtime.ts";

/** Options of {@linkcode createRuntimeRouter}. */
export interface RuntimeRouterOptions {
  /** The runtime of each handler. */
  runtimes: ReadonlyMap<string, OciRuntime>;
  /** The handler of `""`; must be a key of `runtimes`. */
  defaultHandler: string;
  /** The handler an existing sandbox or container was created with; undefined when unknown. */
  handlerOf(id: string): string | undefined;
}

/** A runtime that routes to the runtime of each id's handler. */
export interface RuntimeRouter extends OciRuntime {
  /** The runtime serving `handler` ("" for the default); undefined when none is configured. */
  runtimeOf(handler: string): OciRuntime | undefined;
  /** The handler an id routes to. */
  handlerFor(id: string): string;
}

/**
 * Builds the router.
 *
 * @throws {RangeError} when the default handler has no runtime
 */
export function createRuntimeRouter(options: RuntimeRouterOptions): RuntimeRouter {
  const { runtimes, defaultHandler, handlerOf } = options;
  const fallback = runtimes.get(defaultHandler);
  if (!fallback) {
    throw new RangeError(`The default runtime handler "${defaultHandler}" has no runtime`);
  }
  /** Ids seen in create or list before a record names their handler. */
  const seen = new Map<string, string>();
  const handlerFor = (id: string): string => {
    const h = seen.get(id) ?? handlerOf(id) ?? "";
    return h === "" || !runtimes.has(h) ? defaultHandler : h;
  };
  const of = (id: string): OciRuntime => runtimes.get(handlerFor(id)) ?? fallback;
  return {
    name: fallback.name,
    runtimeOf: (handler) => runtimes.get(handler === "" ? defaultHandler : handler),
    handlerFor,
    async create(opts: CreateOptions) {
      const handler = opts.runtimeHandler ?? handlerOf(opts.id) ?? "";
      const name = handler === "" ? defaultHandler : handler;
      const runtime = runtimes.get(name);
      if (!runtime) throw new RangeError(`No runtime for handler "${name}"`);
      seen.set(opts.id, name);
      try {
        return await runtime.create(opts);
      } catch (err) {
        seen.delete(opts.id);
        throw err;
      }
    },
    start: (id, opts) => of(id).start(id, opts),
    kill: (id, signal, opts) => of(id).kill(id, signal, opts),
    async delete(id, opts) {
      await of(id).delete(id, opts);
      seen.delete(id);
    },
    state: (id) => of(id).state(id),
    async list(): Promise<RuntimeState[]> {
      const all = new Map<string, RuntimeState>();
      for (const [handler, runtime] of runtimes) {
        for (const state of await runtime.list()) {
          if (all.has(state.id)) continue; // two handlers sharing one root list it twice
          all.set(state.id, state);
          if (handlerOf(state.id) === undefined) seen.set(state.id, handler);
        }
      }
      return [...all.values()];
    },
    updateResources: (id, resources) => of(id).updateResources(id, resources),
    execSync: (id, opts: ExecSyncOptions): Promise<ExecSyncResult> => of(id).execSync(id, opts),
    reopenLog: (id, opts?: ReopenLogOptions) => of(id).reopenLog(id, opts),
    conmonAlive: (pid) => fallback.conmonAlive(pid),
  };
}
