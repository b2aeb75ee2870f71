/**
 * The composition root: builds every part from the configuration, restores state from disk,
 * and serves the CRI on the unix socket until closed.
 *
 * @module
 */
import { basename, join } from "node:path";
import { createAttachWarmer, detectCgroupLayout, probeCgroupSupport } from "./cgroups/mod.ts";
import { probeHandlerFeatures } from "./oci/runtime_features.ts";
import type { Config } from "./config/types.ts";
import { ExitHub } from "./exit_hub.ts";
import { MonitorWatch } from "./monitor_watch.ts";
import { ExitCleanup } from "./exit_cleanup.ts";
import { ImageService, loadNodeSignaturePolicy, type SignaturePolicy } from "./image/mod.ts";
import { KeyedMutex } from "./lock.ts";
import type { Logger } from "./log.ts";
import { createCniPlugin, createNetnsManager } from "./network/mod.ts";
import {
  createOciRuntime,
  createRuntimeRouter,
  createSealedBinary,
  ExecFiles,
  ExitWatcher,
  ownOomScoreAdj,
  ProcessTemplates,
  spawnConmon,
} from "./oci/mod.ts";
import { runtimeHandlers } from "./config/runtime_handlers.ts";
import { countByState, countingRunner, countingSpawnConmon, startMetrics } from "./metrics/mod.ts";
import { denoRunner, type Runner } from "./process.ts";
import { timedRunner } from "./timed_runner.ts";
import { ensureInfraRootfs } from "./sandbox/infra.ts";
import { type HostCapabilities, probeHostCapabilities } from "./host/capabilities.ts";
import { loadNodeSeccompProfile } from "./spec/seccomp_profile.ts";
import { reloadConfig } from "./reload.ts";
import { loadRegistriesConf, type RegistriesConf } from "./image/registries_conf.ts";
import { OciHookDirs } from "./spec/oci_hooks.ts";
import { appArmorEnabled } from "./host/apparmor.ts";
import type { Deps } from "./server/deps.ts";
import { recordExit } from "./server/exits.ts";
import { listenUnix } from "./server/listener.ts";
import { containerBundle } from "./server/container_create.ts";
import { createCriServer } from "./server/mod.ts";
import { handlerTable, streamHandlerTable } from "./server/handlers.ts";
import { createContainerEventBus } from "./server/container_events.ts";
import { createContainerStore, createSandboxStore } from "./store/mod.ts";
import { recover } from "./recovery.ts";
import { sweep, type SweepReport } from "./gc.ts";
import { markFdsCloseOnExec } from "./sys/cloexec.ts";
import { podHolders } from "./sandbox/holder.ts";
import { InfraHolder } from "./sandbox/infra_holder.ts";
import { PinnedHolder } from "./sandbox/pinned_holder.ts";
import { PinnedNamespaces } from "./sandbox/pinned_namespaces.ts";
import { memoryRelease } from "./memory_release.ts";
import {
  defaultNetnsPinner,
  defaultPodNsPinner,
  defaultTrimMemory,
  netnsReaderOf,
} from "./sys/mod.ts";
import { OcidError } from "./errors.ts";
import type { HandlerTable } from "./server/mod.ts";
import { storeLookups, StreamServer } from "./stream/mod.ts";
import { PendingStops } from "./server/pending_stops.ts";

/** Options of {@linkcode startDaemon}. */
export interface DaemonOptions {
  logger: Logger;
  runner?: Runner;
  /** The daemon's capability bounding set. @default probeHostCapabilities() */
  hostCapabilities?: HostCapabilities;
  /** Whether the node runs AppArmor. @default appArmorEnabled() */
  appArmorEnabled?: boolean;
  /** Told what start-up is doing (systemd's STATUS= lines). */
  onStatus?: (text: string) => void;
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
  /**
   * Applies a reloaded configuration (`src/reload.ts`): the reloadable keys that changed, and
   * registries.conf, the `seccomp_profile` and `signature_policy` files read again.
   *
   * @returns The keys applied and those that need a restart.
   * @throws {Error} When registries.conf, the seccomp profile or the signature policy does not
   *   parse: nothing changed.
   */
  reload(next: Config): Promise<{ applied: string[]; needRestart: string[] }>;
}

const CONTAINER_STATES = [
  "CONTAINER_CREATED",
  "CONTAINER_RUNNING",
  "CONTAINER_EXITED",
  "CONTAINER_UNKNOWN",
] as const;
const SANDBOX_STATES = ["SANDBOX_READY", "SANDBOX_NOTREADY"] as const;

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
  const started = performance.now();
  await Deno.mkdir(config.root, { recursive: true, mode: 0o700 });
  await Deno.mkdir(config.runroot, { recursive: true, mode: 0o700 });
  const exitDir = join(config.runroot, "exits");
  await Deno.mkdir(exitDir, { recursive: true });

  const sandboxes = createSandboxStore(join(config.root, "sandboxes"), { logger: log });
  const containers = createContainerStore(join(config.root, "containers-meta"), { logger: log });
  await sandboxes.load();
  await containers.load();

  const metrics = await startMetrics({
    address: config.metricsAddress,
    port: config.metricsPort,
    log,
    snapshot: () => ({
      containers: countByState(containers.list().map((c) => c.status.state), CONTAINER_STATES),
      pods: countByState(sandboxes.list().map((s) => s.status.state), SANDBOX_STATES),
    }),
  });
  const baseRunner = countingRunner(options.runner ?? denoRunner, metrics.recorder);
  // At debug level every program run is timed (profiling: child time vs ocid's own).
  const runner = config.logLevel === "debug" ? timedRunner(baseRunner, log) : baseRunner;

  // One runtime per RuntimeClass handler, behind a router that sends each id to its handler's.
  // They and the streaming exec share the dir of the execs' process and pid files, which the
  // sweep also clears, and the cache of the containers' processes (the templates of execs).
  const execFiles = new ExecFiles(join(config.runroot, "exec"), { logger: log });
  const processes = new ProcessTemplates();
  // Read once: by the warmer of runc's cgroup moves, the cgroup probe below and the handlers.
  const cgroupLayout = detectCgroupLayout();
  cgroupLayout.catch(() => {}); // awaited (and thrown) by the probe
  const attachWarmer = createAttachWarmer({ layout: cgroupLayout, logger: log });
  const handlerConfigs = runtimeHandlers(config);
  const runtimeFeatures = probeHandlerFeatures(config, runner);
  // runc of each handler from a sealed copy: for its create and ExecSync, and streaming execs.
  const launchBinaries = new Map(
    [...handlerConfigs].map(([name, h]) => [
      name,
      createSealedBinary({
        file: h.runtimePath,
        // Not a handler's dir (`<runroot>/<handler>` is the default runtime root): a dot.
        link: join(config.runroot, "runtimes.d", name, basename(h.runtimePath)),
        enabled: runtimeFeatures.then(({ features }) => features.get(name)?.runcInternals ?? false),
        logger: log,
      }),
    ]),
  );
  const runtimes = new Map(
    [...handlerConfigs].map(([name, h]) => [
      name,
      createOciRuntime({
        runtimePath: h.runtimePath,
        runtimeRoot: h.runtimeRoot,
        conmonPath: h.monitorPath,
        exitDir,
        socketDir: join(config.runroot, "socket"),
        logLevel: config.conmon.logLevel,
        execFiles,
        processes,
        runner,
        logger: log,
        spawnConmon: countingSpawnConmon(spawnConmon, metrics.recorder),
        runcInternals: runtimeFeatures.then(({ features }) =>
          features.get(name)?.runcInternals ?? false
        ),
        attachWarmer,
        launchBinary: launchBinaries.get(name)!,
      }),
    ]),
  );
  const handlerOf = (id: string): string | undefined => {
    if (sandboxes.has(id)) return sandboxes.get(id).metadata.runtimeHandler;
    if (!containers.has(id)) return undefined;
    const sandboxId = containers.get(id).metadata.sandboxId;
    return sandboxes.has(sandboxId) ? sandboxes.get(sandboxId).metadata.runtimeHandler : undefined;
  };
  const runtime = createRuntimeRouter({
    runtimes,
    defaultHandler: config.defaultRuntime,
    handlerOf,
  });
  // Namespaces are made in-process on this thread where FFI works (OCID_NETNS); `lo` comes up
  // in the same section unless the loopback plugin is asked for or namespaces need `unshare`.
  const netnsPinner = defaultNetnsPinner(runner, { logger: log });
  // The same thread reads the counters of a pod's netns when no process is in it (stats).
  const netnsReader = netnsReaderOf(netnsPinner);
  const netns = createNetnsManager({
    dir: join(config.runroot, "netns"),
    runner,
    pinner: netnsPinner,
    loopback: config.cni.useInternalLoopback,
  });
  const podNsPinner = defaultPodNsPinner(runner, { logger: log });
  log.info("Pod namespaces", {
    made: podNsPinner.kind === "libc" ? "in-process" : "unshare",
    loopback: netns.loopback ? "internal" : "plugin",
  });
  const network = createCniPlugin({
    configDir: config.cni.configDir,
    pluginDirs: config.cni.pluginDirs,
    cacheDir: join(config.root, "cni-cache"),
    runner,
    logger: log,
    loopback: !netns.loopback,
    skipIdlePortmap: config.cni.skipIdlePortmap,
  });
  const images = await ImageService.open({
    config,
    runner,
    logger: log,
    isInUse: (imageId) =>
      containers.list().some((c) =>
        c.metadata.imageId === imageId || c.metadata.volumeImageIds?.includes(imageId)
      ) || sandboxes.list().some((s) => s.metadata.imageId === imageId),
  });
  const infraRootfs = await ensureInfraRootfs(config.root, config.pause.binary);
  const hostCapabilities = options.hostCapabilities ?? probeHostCapabilities();
  if (hostCapabilities.missing.length > 0) {
    log.info("The daemon's bounding set lacks capabilities; no container gets them", {
      missing: hostCapabilities.missing.join(","),
    });
  }
  const appArmor = options.appArmorEnabled ?? await appArmorEnabled();
  if (appArmor) {
    log.warn(
      "AppArmor is enabled on this node: Localhost profiles are applied, but ocid loads no " +
        "default profile, so RuntimeDefault containers run without one",
    );
  }
  const runtimeDefaultSeccomp = config.seccompProfile
    ? await loadNodeSeccompProfile(config.seccompProfile)
    : undefined;
  if (runtimeDefaultSeccomp) {
    log.info("RuntimeDefault seccomp profile from the node", { path: runtimeDefaultSeccomp.path });
  }
  const own = ownOomScoreAdj();
  if (config.restrictOomScoreAdj) {
    log.info("Restricting oom_score_adj to the daemon's own or higher", { own });
  }

  // Asked of every handler's runtime (begun with the runtimes) while the cgroups are probed.
  const layout = await cgroupLayout;
  const cgroupSupport = await probeCgroupSupport(layout);
  log.info("Cgroup support", {
    mode: cgroupSupport.mode,
    controllers: cgroupSupport.controllers.join(","),
    hugePageSizes: cgroupSupport.hugePageSizes.join(",") || "none",
    swap: cgroupSupport.memorySwap,
  });
  const { features, problems } = await runtimeFeatures;
  log.info("Runtime handler features", {
    recursiveReadOnlyMounts: [...features].filter(([, f]) => f.recursiveReadOnlyMounts)
      .map(([name]) => name).join(",") || "none",
    runcInternals: [...features].filter(([, f]) => f.runcInternals)
      .map(([name]) => name).join(",") || "none",
  });
  for (const [handler, problem] of problems) {
    log.info("A runtime handler cannot tell its features; it gets none", { handler, problem });
  }

  const exits = new ExitHub();
  const cleanups = new ExitCleanup({ runtime, images, log });
  exits.onForget((id) => cleanups.forget(id));
  // A removed container's process template (the exec template) goes with it.
  exits.onForget((id) => processes.forget(containerBundle(config.root, id)));
  const pins = new PinnedNamespaces({
    dir: join(config.runroot, "podns"),
    runner,
    pinner: podNsPinner,
  });
  const holders = podHolders(
    {
      infra: new InfraHolder({
        config,
        log,
        runtime,
        exits,
        cleanups,
        images,
        infraRootfs,
        ownOomScoreAdj: own,
        hostCapabilities,
        cgroupSupport,
      }),
      pinned: new PinnedHolder(pins),
    },
    pins,
    config.dropInfraCtr,
  );
  const memory = memoryRelease(defaultTrimMemory());
  const deps: Deps = {
    config,
    log,
    runner,
    locks: new KeyedMutex(),
    runtime,
    network,
    netns,
    ...(netnsReader ? { netnsReader } : {}),
    sandboxes,
    containers,
    exits,
    stops: new PendingStops(),
    cleanups,
    images,
    events: createContainerEventBus({ logger: log }),
    infraRootfs,
    holders,
    ownOomScoreAdj: own,
    hostCapabilities,
    appArmorEnabled: appArmor,
    ociHooks: new OciHookDirs(config.hooksDir, log),
    ...(runtimeDefaultSeccomp ? { runtimeDefaultSeccomp } : {}),
    cgroupSupport,
    cgroupLayout: layout,
    runtimeFeatures: features,
    metrics: metrics.recorder,
  };
  exits.onExit((id, event) => recordExit(deps, id, event));
  const watcher = new ExitWatcher(exitDir, {
    onExit: (id, event) => exits.deliver(id, event),
    logger: log,
  });
  exits.onForget((id) => watcher.forget(id));
  await watcher.start();
  options.onStatus?.(
    `Recovering ${sandboxes.size} pods and ${containers.size} containers from ${config.root}`,
  );
  await recover(deps);
  const sweepDeps = {
    config,
    log,
    runtime,
    network,
    netns,
    images,
    holders,
    sandboxes,
    containers,
    execFiles,
  };
  options.onStatus?.("Sweeping what no record owns");
  await sweep(sweepDeps, { runner });
  const monitors = new MonitorWatch({ ...deps, exitDir });

  const streams = await StreamServer.start({
    log,
    // The default handler's runtime; a container of another handler carries its own.
    runtimePath: handlerConfigs.get(config.defaultRuntime)!.runtimePath,
    runtimeRoot: handlerConfigs.get(config.defaultRuntime)!.runtimeRoot,
    execFiles,
    processes,
    attachWarmer,
    ...storeLookups(containers, sandboxes, (id) => {
      const name = runtime.handlerFor(id);
      const h = handlerConfigs.get(name);
      const sealed = launchBinaries.get(name);
      return h && sealed
        ? { path: h.runtimePath, root: h.runtimeRoot, launchPath: () => sealed.path() }
        : undefined;
    }),
  }, { address: config.streamAddress, port: config.streamPort });
  deps.streams = streams;
  const handlers = drainable(handlerTable(deps));
  const server = createCriServer(handlers.table, log, {
    streams: streamHandlerTable(deps, handlers.table),
    metrics: metrics.recorder,
    memory,
  });
  const listener = await listenUnix(server, config.listen, { logger: log }).catch(
    async (err) => {
      await streams.close();
      await metrics.close();
      throw err;
    },
  );
  // The listening sockets (CRI, streaming) and the watchers' fds now exist; Deno leaves some of
  // them inheritable. Mark every fd close-on-exec, so that no child (runc exec, CNI plugins)
  // holds the CRI socket after a kill -9 (conmon spawns mark again: fds made later).
  if (!markFdsCloseOnExec()) log.debug("close_range(CLOSE_RANGE_CLOEXEC) is unavailable");
  monitors.start();
  // The sweep while serving: a pod or container being created holds its name (and has a netns,
  // dirs, a conmon, runtime state) before it has a record. One at a time: a sweep asked for
  // while one runs (SIGUSR1, the timer) gets that one's report.
  let sweeping: Promise<SweepReport> | undefined;
  const sweepNow = () =>
    sweeping ??= sweep(sweepDeps, {
      runner,
      isInFlight: (id) => sandboxes.inCreation(id) || containers.inCreation(id),
      minAgeMs: 60_000,
    }).finally(() => sweeping = undefined);
  const sweepTimer = config.sweepIntervalSeconds > 0
    ? setInterval(() => {
      sweepNow().catch((err) => log.error("Garbage sweep failed", { error: err as Error }));
    }, config.sweepIntervalSeconds * 1000)
    : undefined;
  log.info("ocid is serving", {
    socket: config.listen,
    sandboxes: sandboxes.size,
    containers: containers.size,
    ms: (performance.now() - started).toFixed(0),
  });

  return {
    deps,
    sweep: sweepNow,
    async reload(next) {
      // Read again whether or not their path changed: an operator edits them, then reloads.
      let registries: RegistriesConf;
      let seccomp: { path: string; text: string } | undefined;
      let signatures: SignaturePolicy | undefined;
      return await reloadConfig(config, next, {
        async prepare(n) {
          registries = await loadRegistriesConf(n.image.registriesConf);
          seccomp = n.seccompProfile ? await loadNodeSeccompProfile(n.seccompProfile) : undefined;
          signatures = await loadNodeSignaturePolicy(n.image.signaturePolicy);
        },
        commit(n, changed) {
          images.setRegistries(registries);
          images.setSignaturePolicy(signatures);
          if (seccomp) deps.runtimeDefaultSeccomp = seccomp;
          else delete deps.runtimeDefaultSeccomp;
          if (changed.has("hooks_dir")) deps.ociHooks = new OciHookDirs(n.hooksDir, log);
        },
      });
    },
    async close(options = {}) {
      clearInterval(sweepTimer);
      const left = await handlers.drain(options.graceMs ?? SHUTDOWN_GRACE_MS);
      if (left > 0) log.warn("Closing with RPCs still in flight", { count: left });
      deps.events.close(); // ends GetContainerEvents streams, which never end by themselves
      await listener.close();
      await streams.close(); // drops exec/attach/port-forward sessions; their processes are killed
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await sweeping?.catch(() => {}); // its removals end before the stores are left
      await monitors.close();
      await watcher.close();
      await exits.settled();
      await cleanups.settled(); // the runtime deletes and unmounts started by exits
      await execFiles.settled(); // removals of the last exec files (ExecSync and sessions)
      await metrics.close();
      memory.close();
    },
  };
}
