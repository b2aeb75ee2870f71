/**
 * `deno task bench`: drives CRI endpoints with one scenario and prints p50/p95/p99 per
 * operation, pods per second, RSS and CPU, with ratio columns ocid/containerd and
 * ocid/floor; writes the same as JSON to `bench/results/<timestamp>.json`.
 *
 * ```
 * deno task bench                          # --all: registry, containerd, ocid, floor
 * deno task bench --targets containerd,floor
 * deno task bench --targets floor --floor-model infra
 * deno task bench --endpoint unix:///run/x.sock
 * deno task bench --quick --targets ocid --out /tmp/r.json
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startRegistry } from "./_registry.ts";
import { criTarget } from "./cri_target.ts";
import { FLOOR_MODELS, type FloorModel, startFloor } from "./floor.ts";
import { startContainerd } from "./peers/containerd.ts";
import { ocidTarget, startOcid } from "./peers/ocid.ts";
import { buildReport, formatReport } from "./report.ts";
import { formatGoals } from "./goals.ts";
import { DEFAULT_SCENARIO, QUICK_SCENARIO, runScenario, type ScenarioOptions } from "./scenario.ts";
import type { Target } from "./target.ts";
import { formatSummary, runPullBench } from "./pull.ts";

const ALL_TARGETS = ["ocid", "containerd", "floor"] as const;

function printUsage(): void {
  console.log(`Usage: deno task bench [options]

Targets (default --all = ocid,containerd,floor):
  --all                    start a registry, containerd, ocid and the floor
  --targets LIST           comma-separated subset of ocid,containerd,floor
  --endpoint unix:///PATH  drive an existing CRI endpoint (named "endpoint"), instead of the
                           targets or, with --targets, beside them (an A/B of two daemons)
  --floor-model MODEL      the floor's pod model (see bench/floor.ts): pinned (default,
                           no pause process, namespaces pinned as files, as ocid's default)
                           or infra (a pause container per pod, portmap)

Sizes (defaults: the full scenario; --quick: a tiny one):
  --quick                  tiny scenario (smoke test)
  --pods N                 lifecycle iterations per target (${DEFAULT_SCENARIO.pods})
  --pulls N                PullImage samples (${DEFAULT_SCENARIO.pulls})
  --list-sizes A,B,C       containers present for ListContainers (${DEFAULT_SCENARIO.listSizes})
  --list-samples N         ListContainers samples per size (${DEFAULT_SCENARIO.listSamples})
  --concurrency A,B        pods/s concurrency levels (${DEFAULT_SCENARIO.concurrency})
  --throughput-pods N      pods per pods/s run (${DEFAULT_SCENARIO.throughputPods})
  --throughput-rounds N    rounds of each pods/s run, interleaved; the median is kept
                           (${DEFAULT_SCENARIO.throughputRounds})
  --loaded-pods N          pods running for the RSS figures (${DEFAULT_SCENARIO.loadedPods})

Image pull (ocid against skopeo copy, see bench/pull.ts; on by default with the full
scenario on all targets):
  --pull / --no-pull       run / skip the pull benchmark after the CRI scenario
  --pull-runs N            alternations of the pull benchmark (5)

Output:
  --out FILE               JSON path (default bench/results/<timestamp>.json)
  -h, --help`);
}

const ints = (s: string) => s.split(",").filter(Boolean).map((v) => positiveInt(v, true));
function positiveInt(v: string, zero = false): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < (zero ? 0 : 1)) throw new TypeError(`Invalid count "${v}"`);
  return n;
}

async function gitHead(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      stderr: "null",
    })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      all: { type: "boolean" },
      targets: { type: "string" },
      endpoint: { type: "string" },
      "floor-model": { type: "string" },
      quick: { type: "boolean" },
      pods: { type: "string" },
      pulls: { type: "string" },
      "list-sizes": { type: "string" },
      "list-samples": { type: "string" },
      concurrency: { type: "string" },
      "throughput-pods": { type: "string" },
      "throughput-rounds": { type: "string" },
      "loaded-pods": { type: "string" },
      out: { type: "string" },
      pull: { type: "boolean" },
      "no-pull": { type: "boolean" },
      "pull-runs": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    printUsage();
    return 0;
  }
  const base = values.quick ? QUICK_SCENARIO : DEFAULT_SCENARIO;
  const scenario: ScenarioOptions = {
    pods: values.pods ? positiveInt(values.pods) : base.pods,
    pulls: values.pulls ? positiveInt(values.pulls) : base.pulls,
    listSizes: values["list-sizes"]
      ? ints(values["list-sizes"]).sort((a, b) => a - b)
      : base.listSizes,
    listSamples: values["list-samples"] ? positiveInt(values["list-samples"]) : base.listSamples,
    concurrency: values.concurrency ? ints(values.concurrency) : base.concurrency,
    throughputPods: values["throughput-pods"]
      ? positiveInt(values["throughput-pods"])
      : base.throughputPods,
    throughputRounds: values["throughput-rounds"]
      ? positiveInt(values["throughput-rounds"])
      : base.throughputRounds,
    loadedPods: values["loaded-pods"] ? positiveInt(values["loaded-pods"]) : base.loadedPods,
  };
  const wanted = values.targets
    ? values.targets.split(",").filter(Boolean)
    : values.endpoint
    ? []
    : [...ALL_TARGETS];
  for (const t of wanted) {
    if (!(ALL_TARGETS as readonly string[]).includes(t)) {
      throw new TypeError(`Unknown target "${t}"`);
    }
  }
  const floorModel = (values["floor-model"] ?? FLOOR_MODELS[0]!) as FloorModel;
  if (!FLOOR_MODELS.includes(floorModel)) {
    throw new TypeError(`Unknown floor model "${floorModel}" (${FLOOR_MODELS.join(", ")})`);
  }
  const log = (line: string) => console.error(`bench: ${line}`);

  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    while (cleanups.length) await cleanups.pop()!().catch((e) => log(`cleanup: ${e}`));
  };
  const onSignal = () => {
    log("interrupted, cleaning up");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const scratch = await Deno.makeTempDir({ prefix: "ocid-bench-" });
    cleanups.push(() => Deno.remove(scratch, { recursive: true }));
    const logDir = join(scratch, "logs");
    await Deno.mkdir(logDir);

    log("starting the registry");
    const registry = await startRegistry(
      await Deno.makeTempDir({ prefix: "ocid-bench-registry-" }),
    );
    cleanups.push(() => registry.close());

    const targets: Target[] = [];
    const criOptions = { busybox: registry.images.busybox, logDir };
    if (values.endpoint) {
      const t = await criTarget("endpoint", values.endpoint, criOptions);
      cleanups.push(() => t.close());
      targets.push(t);
    }
    const startFailures: string[] = [];
    const start = async (name: string) => {
      if (name === "containerd") {
        const peer = await startContainerd({
          registryHost: registry.host,
          sandboxImage: registry.images.pause,
        });
        cleanups.push(() => peer.close());
        const t = await criTarget("containerd", peer.endpoint, {
          ...criOptions,
          daemonPid: peer.daemon.pid,
          monitors: peer.monitors,
          exited: peer.daemon.exited,
        });
        cleanups.push(() => t.close());
        targets.push(t);
      } else if (name === "ocid") {
        const peer = await startOcid();
        cleanups.push(() => peer.close());
        const t = await ocidTarget(peer, criOptions);
        cleanups.push(() => t.close());
        targets.push(t);
      } else {
        const t = await startFloor({ model: floorModel });
        cleanups.push(() => t.close());
        targets.push(t);
      }
    };
    // A target that cannot start is reported; the others still run.
    for (const name of wanted) {
      log(`starting ${name}`);
      await start(name).catch((err) => {
        startFailures.push(`${name}: ${err instanceof Error ? err.message : err}`);
        log(`cannot start ${name}: ${err instanceof Error ? err.message : err}`);
      });
    }
    if (targets.length === 0) {
      throw new Error(`No target could start:\n${startFailures.join("\n")}`);
    }

    const results = await runScenario(targets, {
      scenario,
      images: registry.images,
      progress: log,
    });
    const git = await gitHead();
    const report = buildReport(results, { scenario, ...(git ? { git } : {}) });
    const out = values.out ?? join(
      fileURLToPath(new URL("./results/", import.meta.url)),
      `${report.date.replace(/[:.]/g, "-")}.json`,
    );
    await Deno.mkdir(join(out, ".."), { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(report, null, 2) + "\n");
    console.log(formatReport(report));
    console.log(`\n${formatGoals(report)}`);
    console.log(`\nJSON: ${out}`);
    for (const f of startFailures) console.log(`\nNot started: ${f}`);
    const fullRun = !values.quick && !values.endpoint && !values.targets;
    if (values.pull || (fullRun && !values["no-pull"])) {
      await cleanup(); // the CRI peers stop first: the pull runs on a quiet machine
      log("image pull benchmark: ocid against skopeo copy");
      const pull = await runPullBench({
        runs: values["pull-runs"] ? positiveInt(values["pull-runs"]) : 5,
        log,
      });
      const pullOut = out.replace(/\.json$/, "-pull.json");
      await Deno.writeTextFile(pullOut, JSON.stringify(pull, null, 2) + "\n");
      console.log(`\nImage pull (ocid against skopeo copy)\n${formatSummary(pull)}`);
      console.log(`\nJSON: ${pullOut}`);
    }
    return startFailures.length || results.some((r) => r.errors.length) ? 1 : 0;
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : err}`);
    Deno.exit(2);
  }
}
