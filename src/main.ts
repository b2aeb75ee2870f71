/**
 * ocid: a Kubernetes CRI runtime on conmon and runc.
 *
 * `ocid [serve|config|doctor|version|help] [flags]` -- parses the command line, loads the
 * configuration, and hands over to the daemon. Console output happens here only.
 *
 * @module
 */
import { configToToml, loadConfig, parseCommandLine, usage } from "./config/mod.ts";
import { createLogger, type LeveledLogger } from "./log.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createSystemdNotifier } from "./systemd_notify.ts";
import { call, criClients } from "./cri/proto.ts";
import { VERSION } from "./version.ts";

async function main(args: string[]): Promise<number> {
  let commandLine;
  try {
    commandLine = parseCommandLine(args);
  } catch (err) {
    console.error(`ocid: ${(err as Error).message}\n\n${usage()}`);
    return 2;
  }
  const { command, flags } = commandLine;
  if (command === "help") {
    console.log(usage());
    return 0;
  }
  if (command === "version") {
    console.log(`ocid ${VERSION} (CRI v1, Deno ${Deno.version.deno})`);
    return 0;
  }
  let config;
  try {
    config = await loadConfig({ ...(flags.config ? { configPath: flags.config } : {}), flags });
  } catch (err) {
    console.error(`ocid: ${(err as Error).message}`);
    return 2;
  }
  if (command === "config") {
    console.log(configToToml(config));
    return 0;
  }
  if (command === "doctor") {
    const { anyFailed, formatReport, realDoctorHost, runDoctor } = await import("./doctor/mod.ts");
    const findings = await runDoctor(config, realDoctorHost());
    console.log(formatReport(findings).trimEnd());
    return anyFailed(findings) ? 1 : 0;
  }
  const log = createLogger(config.logLevel);
  // A request must never bring the daemon down: a rejection or exception that escaped its
  // handler is logged, not fatal.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    log.error("Unhandled rejection", { error: event.reason as Error });
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    log.error("Uncaught exception", { error: event.error as Error });
  });
  // Under a Type=notify unit: STATUS= while starting, READY=1 once the socket answers.
  const systemd = createSystemdNotifier({ log });
  let daemon;
  try {
    daemon = await startDaemon(config, { logger: log, onStatus: systemd.status });
    if (systemd.enabled) await answersVersion(config.listen);
  } catch (err) {
    log.error("Cannot start ocid", { error: err as Error });
    systemd.status(`Cannot start: ${(err as Error).message}`);
    systemd.close();
    return 1;
  }
  systemd.ready(
    `Serving on ${config.listen}: ${daemon.deps.sandboxes.size} pods, ` +
      `${daemon.deps.containers.size} containers`,
  );
  // SIGTERM/SIGINT: refuse new RPCs, let those in flight finish, leave containers running. A
  // second signal exits at once. SIGUSR1: sweep garbage now.
  const stop = new Promise<string>((resolve) => {
    let stopping = false;
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, () => {
        if (stopping) {
          log.warn("Second signal: exiting without waiting", { signal });
          Deno.exit(1);
        }
        stopping = true;
        resolve(signal);
      });
    }
  });
  const onSweep = () => {
    daemon.sweep().catch((err) => log.error("Garbage sweep failed", { error: err as Error }));
  };
  // SIGUSR2: log memory use (after a full GC when started with --v8-flags=--expose-gc).
  const onMemory = () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = Deno.memoryUsage();
    log.info("Memory", {
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
    });
  };
  // SIGHUP (systemctl reload): load the configuration again and apply what can change live.
  const onReload = () => {
    reload(daemon, log, { ...(flags.config ? { configPath: flags.config } : {}), flags })
      .catch((err) => log.error("Configuration reload failed", { error: err as Error }));
  };
  Deno.addSignalListener("SIGUSR1", onSweep);
  Deno.addSignalListener("SIGUSR2", onMemory);
  Deno.addSignalListener("SIGHUP", onReload);
  const signal = await stop;
  Deno.removeSignalListener("SIGUSR1", onSweep);
  Deno.removeSignalListener("SIGUSR2", onMemory);
  Deno.removeSignalListener("SIGHUP", onReload);
  log.info("Shutting down; containers keep running", { signal });
  systemd.stopping();
  await daemon.close();
  log.info("ocid stopped");
  return 0;
}

/**
 * Loads the configuration as at start and hands it to the daemon (`src/reload.ts`); a
 * configuration that does not load, or a file it names that does not parse, changes nothing.
 */
async function reload(
  daemon: Daemon,
  log: LeveledLogger,
  options: Parameters<typeof loadConfig>[0],
): Promise<void> {
  const next = await loadConfig(options);
  const { applied, needRestart } = await daemon.reload(next);
  log.setLevel(daemon.deps.config.logLevel);
  log.info("Configuration reloaded", {
    applied: applied.join(",") || "none",
    ...(needRestart.length > 0 ? { needRestart: needRestart.join(",") } : {}),
  });
  if (needRestart.length > 0) {
    log.warn("Changed settings take effect after a restart", { keys: needRestart.join(",") });
  }
}

/** Calls Version on our own socket: READY=1 promises that the CRI answers. */
async function answersVersion(socket: string): Promise<void> {
  const clients = criClients(socket);
  try {
    await call(clients.runtime, "Version", { version: "v1" }, { deadlineMs: 10_000 });
  } finally {
    clients.close();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
