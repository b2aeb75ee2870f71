/**
 * The composition root: builds every part from the configuration, restores state from disk,
 * and serves the CRI on the unix socket until closed.
 *
 * @module
 */
import { join } from "node:path";
import type { Config } from "./config/types.ts";
import { ExitHub } from "./exit_hub.ts";
import { ImageService } from "./image/mod.ts";
import { KeyedMutex } from "./lock.ts";
import type { Logger } from "./log.ts";
import { createCniPlugin, createNetnsManager } from "./network/mod.ts";
import { createOciRuntime, ExitWatcher, ownOomScoreAdj } from "./oci/mod.ts";
import { denoRunner, type Runner } from "./process.ts";
import { timedRunner } from "./timed_runner.ts";
import { ensureInfraRootfs } from "./sandbox/infra.ts";
import type { Deps } from "./server/deps.ts";
import { recordExit } from "./server/exits.ts";
import { listenUnix } from "./server/listener.ts";
import { createCriServer } from "./server/mod.ts";
import { handlerTable, streamHandlerTable } from "./server/handlers.ts";
import { createContainerEventBus } from "./server/container_events.ts";
import { createContainerStore, createSandboxStore } from "./store/mod.ts";
import { recover } from "./recovery.ts";
import { sweep, type SweepReport } from "./gc.ts";
import { memoryRelease } from "./memory_release.ts";
import { defaultTrimMemory } from "./sys/mod.ts";
import { OcidError } from "./errors.ts";
import type { HandlerTable } from "./server/mod.ts";
import { sandboxesInCreation } from "./server/sandbox_run.ts";
import { storeLookups, StreamServer } from "./stream/mod.ts";

/** Options of {@linkcode startDaemon}. */
export interface DaemonOptions {
  logger: Logger;
  runner?: Runner;
}

/** A running daemon. */
export interface Daemon {
  deps: Deps;
  /** Removes what no record owns (see src/gc.ts); leaves traces younger than a minute alone. */
  sweep(): Promise<SweepReport>;
  /**
   * Stops serving; containers keep running. New RPCs are refused with UNAVAILABLE, RPCs in
   * flight get up to `graceMs` to finish, then the socket closes.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** How long in-flight RPCs get to finish on shutdown. */
const SHUTDOWN_GRACE_MS = 30_000;

/** Wraps every handler so shutdown can refuse new calls and wait for those in flight. */
function drainable(table: HandlerTable): {
  table: HandlerTable;
  drain(graceMs: number): Promise<number>;
} {
  const inFlight = new Set<Promise<unknown>>();
  let draining = false;
  const wrapped: HandlerTable = {};
  for (const [name, handler] of Object.entries(table)) {
    wrapped[name] = (req, ctx) => {
      if (draining) {
        return Promise.reject(new OcidError("UNAVAILABLE", "ocid is shutting down; retry later"));
      }
      const p = handler(req, ctx);
      inFlight.add(p);
      p.then(() => inFlight.delete(p), () => inFlight.delete(p));
      return p;
    };
  }
  return {
    table: wrapped,
    async drain(graceMs) {
      draining = true;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((r) => timer = setTimeout(r, graceMs));
      await Promise.race([Promise.allSettled([...inFlight]), timeout]);
      clearTimeout(timer);
      return inFlight.size;
    },
  };
}

/** Builds the daemon from `config` and starts serving. */
export async function startDaemon(config: Config, options: DaemonOptions): Promise<Daemon> {
  const log = options.logger;
  const baseRunner = options.runner ?? denoRunner;
  // At debug level every program run is timed (profiling: child time vs ocid's own).
  const runner = config.logLevel === "debug" ? timedRunner(baseRunner, log) : baseRunner;
  const started = performance.now();
  await Deno.mkdir(config.root, { recursive: true, mode: 0o700 });
  await Deno.mkdir(config.runroot, { recursive: true, mode: 0o700 });
  const exitDir = join(config.runroot, "exits");
  await Deno.mkdir(exitDir, { recursive: true });

  const sandboxes = createSandboxStore(join(config.root, "sandboxes"), { logger: log });
  const containers = createContainerStore(join(config.root, "containers-meta"), { logger: log });
  await sandboxes.load();
  await containers.load();

  const runtime = createOciRuntime({
    runtimePath: config.runtime.path,
    runtimeRoot: config.runtime.root,
    conmonPath: config.conmon.path,
    exitDir,
    socketDir: join(config.runroot, "socket"),
    logLevel: config.conmon.logLevel,
    runner,
    logger: log,
  });
  const network = createCniPlugin({
    configDir: config.cni.configDir,
    pluginDirs: config.cni.pluginDirs,
    cacheDir: join(config.root, "cni-cache"),
    runner,
    logger: log,
  });
  const netns = createNetnsManager({ dir: join(config.runroot, "netns"), runner });
  const images = await ImageService.open({
    config,
    runner,
    logger: log,
    isInUse: (imageId) => containers.list().some((c) => c.metadata.imageId === imageId),
  });
  const infraRootfs = await ensureInfraRootfs(config.root, config.pause.binary);
  const own = ownOomScoreAdj();
  if (config.restrictOomScoreAdj) {
    log.info("Restricting oom_score_adj to the daemon's own or higher", { own });
  }

  const exits = new ExitHub();
  const deps: Deps = {
    config,
    log,
    runner,
    locks: new KeyedMutex(),
    runtime,
    network,
    netns,
    sandboxes,
    containers,
    exits,
    images,
    events: createContainerEventBus({ logger: log }),
    infraRootfs,
    ownOomScoreAdj: own,
    memory: memoryRelease(defaultTrimMemory()),
  };
  exits.onExit((id, event) => recordExit(deps, id, event));
  const watcher = new ExitWatcher(exitDir, {
    onExit: (id, event) => exits.deliver(id, event),
    logger: log,
  });
  exits.onForget((id) => watcher.forget(id));
  await watcher.start();
  await recover(deps);
  const inCreation = sandboxesInCreation(sandboxes);
  const sweepDeps = { config, log, runtime, network, netns, images, sandboxes, containers };
  await sweep(sweepDeps, { runner });

  const streams = await StreamServer.start({
    log,
    runtimePath: config.runtime.path,
    runtimeRoot: config.runtime.root,
    ...storeLookups(containers, sandboxes),
  }, { address: config.streamAddress, port: config.streamPort });
  deps.streams = streams;
  const handlers = drainable(handlerTable(deps));
  const server = createCriServer(handlers.table, log, {
    streams: streamHandlerTable(deps, handlers.table),
  });
  const listener = await listenUnix(server, config.listen, { logger: log }).catch(
    async (err) => {
      await streams.close();
      throw err;
    },
  );
  log.info("ocid is serving", {
    socket: config.listen,
    sandboxes: sandboxes.size,
    containers: containers.size,
    ms: (performance.now() - started).toFixed(0),
  });

  return {
    deps,
    sweep: () =>
      sweep(sweepDeps, { runner, isInFlight: (id) => inCreation.has(id), minAgeMs: 60_000 }),
    async close(options = {}) {
      const left = await handlers.drain(options.graceMs ?? SHUTDOWN_GRACE_MS);
      if (left > 0) log.warn("Closing with RPCs still in flight", { count: left });
      deps.events.close(); // ends GetContainerEvents streams, which never end by themselves
      await listener.close();
      await streams.close(); // drops exec/attach/port-forward sessions; their processes are killed
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await watcher.close();
      await exits.settled();
      deps.memory?.close();
    },
  };
}
