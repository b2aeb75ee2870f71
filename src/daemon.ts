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
import { ensureInfraRootfs } from "./sandbox/infra.ts";
import type { Deps } from "./server/deps.ts";
import { recordExit } from "./server/exits.ts";
import { listenUnix } from "./server/listener.ts";
import { createCriServer } from "./server/mod.ts";
import { handlerTable } from "./server/handlers.ts";
import { createContainerStore, createSandboxStore } from "./store/mod.ts";
import { recover } from "./recovery.ts";

/** Options of {@linkcode startDaemon}. */
export interface DaemonOptions {
  logger: Logger;
  runner?: Runner;
}

/** A running daemon. */
export interface Daemon {
  deps: Deps;
  /** Stops serving; containers keep running. */
  close(): Promise<void>;
}

/** Builds the daemon from `config` and starts serving. */
export async function startDaemon(config: Config, options: DaemonOptions): Promise<Daemon> {
  const log = options.logger;
  const runner = options.runner ?? denoRunner;
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
    infraRootfs,
    ownOomScoreAdj: own,
  };
  exits.onExit((id, event) => recordExit(deps, id, event));
  const watcher = new ExitWatcher(exitDir, {
    onExit: (id, event) => exits.deliver(id, event),
    logger: log,
  });
  await watcher.start();
  await recover(deps);

  const server = createCriServer(handlerTable(deps), log);
  const listener = await listenUnix(server, config.listen, { logger: log });
  log.info("ocid is serving", {
    socket: config.listen,
    sandboxes: sandboxes.size,
    containers: containers.size,
    ms: (performance.now() - started).toFixed(0),
  });

  return {
    deps,
    async close() {
      await listener.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await watcher.close();
      await exits.settled();
    },
  };
}
