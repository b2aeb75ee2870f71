/**
 * The benchmark scenario, run on several targets at once and interleaved: every
 * iteration visits each target in turn (starting with a different one each time) so that
 * drift on a noisy machine hits all targets alike. Throughput and memory phases cannot be
 * interleaved within a run; they go target after target.
 *
 * Phases: warm-up; PullImage uncached (remove, then pull a private image) and cached;
 * the pod lifecycle (RunPodSandbox, CreateContainer, StartContainer, ContainerStatus,
 * ExecSync, StopContainer, StopPodSandbox, RemovePodSandbox); ListContainers with N
 * created containers present; pods started per second (RunPodSandbox + CreateContainer +
 * StartContainer) at each concurrency; daemon and monitor RSS with the last throughput
 * run's pods running. Daemon CPU seconds cover everything from warm-up to the end.
 *
 * @module
 */
import { cpuSeconds, pssBytes, rssBytes } from "./_proc.ts";
import type { Target } from "./target.ts";
import { percentile } from "./stats.ts";

/** Sizes of the scenario; see {@linkcode DEFAULT_SCENARIO} and {@linkcode QUICK_SCENARIO}. */
export interface ScenarioOptions {
  /** Lifecycle iterations per target (latency samples of each lifecycle op). */
  pods: number;
  /** PullImage samples (cached and uncached) per target. */
  pulls: number;
  /** Numbers of created containers present when ListContainers is timed, ascending. */
  listSizes: number[];
  /** ListContainers samples per size per target. */
  listSamples: number;
  /** Concurrency levels of the pods-per-second runs. */
  concurrency: number[];
  /** Pods started in each pods-per-second run except the last. */
  throughputPods: number;
  /** Pods started in the last pods-per-second run, then held running for the RSS figures. */
  loadedPods: number;
  /**
   * Rounds of each pods-per-second run, interleaved across the targets; the figure is their
   * median (one round of 50 pods moved by ±15 % from run to run).
   */
  throughputRounds: number;
}

/** The full scenario (about 10 minutes for three targets on 2 cores). */
export const DEFAULT_SCENARIO: ScenarioOptions = {
  pods: 30,
  pulls: 5,
  listSizes: [0, 100, 500],
  listSamples: 20,
  concurrency: [1, 10],
  throughputPods: 20,
  loadedPods: 50,
  throughputRounds: 3,
};

/** A tiny scenario for the smoke test. */
export const QUICK_SCENARIO: ScenarioOptions = {
  pods: 2,
  pulls: 1,
  listSizes: [0, 3],
  listSamples: 2,
  concurrency: [1, 2],
  throughputPods: 2,
  loadedPods: 3,
  throughputRounds: 1,
};

/** The images a CRI target pulls. */
export interface ScenarioImages {
  /** Pulled (and removed) for the uncached figure; shares no layer with the others. */
  pullme: string;
  /** Already present: the cached figure. */
  busybox: string;
  /** Pre-pulled in warm-up. */
  pause: string;
}

/** Everything measured on one target. */
export interface TargetResult {
  name: string;
  /** The target's {@linkcode Target.model}, when it has one (the floor's pod model). */
  model?: string;
  /** Latency samples in milliseconds, by operation name. */
  samples: Record<string, number[]>;
  /** Pods started per second, by concurrency (`"1"`, `"10"`): the median of the rounds. */
  podsPerSecond: Record<string, number>;
  /** Each round's pods per second, by concurrency. */
  podsPerSecondRounds?: Record<string, number[]>;
  /** Daemon RSS in bytes with no pods, after warm-up. */
  idleRssBytes?: number;
  /** Daemon RSS in bytes with `loadedPods` pods running. */
  loadedRssBytes?: number;
  loadedPods?: number;
  /** Summed RSS of the monitors / shims with `loadedPods` pods running. */
  monitorsRssBytes?: number;
  monitorCount?: number;
  /** `monitorsRssBytes / loadedPods`. */
  monitorsRssPerPodBytes?: number;
  /** Summed PSS of the monitors divided by `loadedPods` (shared pages counted once). */
  monitorsPssPerPodBytes?: number;
  /** Daemon CPU seconds (utime + stime) over the whole scenario. */
  cpuSeconds?: number;
  /** Failures, in order (first 50). */
  errors: string[];
}

/** Receives progress lines. */
export type Progress = (line: string) => void;

const MAX_ERRORS = 50;
/** A target with this many failures takes no further part. */
const GIVE_UP_AFTER = 10;

class Run {
  readonly target: Target;
  readonly result: TargetResult;
  #cpuStart = 0;
  constructor(target: Target) {
    this.target = target;
    this.result = {
      name: target.name,
      ...(target.model ? { model: target.model } : {}),
      samples: {},
      podsPerSecond: {},
      errors: [],
    };
    if (target.daemonPid !== undefined) this.#cpuStart = cpuSeconds(target.daemonPid);
  }
  get alive(): boolean {
    return this.result.errors.length < GIVE_UP_AFTER;
  }
  record(op: string, ms: number): void {
    (this.result.samples[op] ??= []).push(ms);
  }
  fail(step: string, err: unknown): void {
    if (this.result.errors.length < MAX_ERRORS) {
      this.result.errors.push(`${step}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const value = await fn();
    this.record(op, performance.now() - t0);
    return value;
  }
  finish(): void {
    if (this.target.daemonPid !== undefined) {
      this.result.cpuSeconds = cpuSeconds(this.target.daemonPid) - this.#cpuStart;
    }
  }
}

/** Visits the live runs in a rotated order: iteration i starts with run i mod n. */
function rotated(runs: Run[], i: number): Run[] {
  const live = runs.filter((r) => r.alive);
  const k = live.length ? i % live.length : 0;
  return [...live.slice(k), ...live.slice(0, k)];
}

async function lifecycle(run: Run, name: string): Promise<void> {
  const t = run.target;
  const pod = await run.timed("RunPodSandbox", () => t.runPodSandbox(name));
  try {
    const t0 = performance.now();
    const ctr = await run.timed("CreateContainer", () => t.createContainer(pod, "sleep"));
    await run.timed("StartContainer", () => t.startContainer(ctr));
    // The two as one sample: the time from asking for a container to having it run.
    run.record("Create+Start", performance.now() - t0);
    await run.timed("ContainerStatus", () => t.containerStatus(ctr));
    await run.timed("ExecSync", () => t.execSync(ctr, ["echo", "ok"]));
    await run.timed("StopContainer", () => t.stopContainer(ctr));
    await run.timed("StopPodSandbox", () => t.stopPodSandbox(pod));
    await run.timed("RemovePodSandbox", () => t.removePodSandbox(pod));
  } catch (err) {
    await t.stopPodSandbox(pod).catch(() => {});
    await t.removePodSandbox(pod).catch(() => {});
    throw err;
  }
}

async function startPods(run: Run, count: number, concurrency: number, tag: string) {
  const t = run.target;
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const pod = await t.runPodSandbox(`${tag}-${i}`);
      const ctr = await t.createContainer(pod, "sleep");
      await t.startContainer(ctr);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return count / ((performance.now() - t0) / 1000);
}

/**
 * Runs the scenario on `targets`, interleaved.
 *
 * @param targets the systems under benchmark (names must differ)
 * @param options sizes, images and a progress callback
 * @returns one result per target, in the order given
 */
export async function runScenario(
  targets: Target[],
  options: { scenario: ScenarioOptions; images: ScenarioImages; progress?: Progress },
): Promise<TargetResult[]> {
  const { scenario: s, images } = options;
  const progress = options.progress ?? (() => {});
  const runs = targets.map((t) => new Run(t));
  const each = async (phase: string, i: number, fn: (run: Run) => Promise<void>) => {
    for (const run of rotated(runs, i)) {
      try {
        await fn(run);
      } catch (err) {
        run.fail(phase, err);
        progress(`${run.target.name}: ${phase} failed: ${(err as Error).message}`);
        await run.target.removeAllPods().catch(() => {});
      }
    }
  };

  progress("warm-up");
  await each("warm-up", 0, async (run) => {
    if (run.target.images) {
      await run.target.images.pull(images.pause);
      await run.target.images.pull(images.busybox);
    }
    await lifecycle(new Run(run.target), "bench-warmup");
    await run.target.removeAllPods();
    await new Promise((r) => setTimeout(r, 500));
    if (run.target.daemonPid !== undefined) {
      run.result.idleRssBytes = rssBytes(run.target.daemonPid);
    }
  });

  progress(`PullImage x${s.pulls}`);
  for (let i = 0; i < s.pulls; i++) {
    await each("PullImage", i, async (run) => {
      const im = run.target.images;
      if (!im) return;
      await im.remove(images.pullme);
      await run.timed("PullImage (uncached)", () => im.pull(images.pullme));
      await run.timed("PullImage (cached)", () => im.pull(images.busybox));
    });
  }

  progress(`lifecycle x${s.pods}`);
  for (let i = 0; i < s.pods; i++) {
    await each("lifecycle", i, (run) => lifecycle(run, `bench-${i}`));
  }

  const listPods = new Map<Run, { pod: string; count: number }>();
  for (const size of s.listSizes) {
    progress(`ListContainers with ${size} containers`);
    await each(`fill to ${size}`, 0, async (run) => {
      let entry = listPods.get(run);
      if (size === 0) return;
      if (!entry) {
        entry = { pod: await run.target.runPodSandbox("bench-list"), count: 0 };
        listPods.set(run, entry);
      }
      try {
        while (entry.count < size) {
          await run.target.createContainer(entry.pod, `c${entry.count}`);
          entry.count++;
        }
      } catch (err) {
        listPods.delete(run);
        throw err;
      }
    });
    for (let i = 0; i < s.listSamples; i++) {
      await each("ListContainers", i, async (run) => {
        await run.timed(`ListContainers (${size})`, () => run.target.listContainers());
      });
    }
  }
  await each("list cleanup", 0, (run) => run.target.removeAllPods());

  for (const [k, c] of s.concurrency.entries()) {
    const last = k === s.concurrency.length - 1;
    const count = last ? s.loadedPods : s.throughputPods;
    const rounds = Math.max(1, s.throughputRounds);
    for (let r = 0; r < rounds; r++) {
      // The RSS figures are read with the last round's pods running.
      const loaded = last && r === rounds - 1;
      progress(`pods per second: ${count} pods at concurrency ${c}, round ${r + 1}/${rounds}`);
      await each(`throughput c=${c}`, k + r, async (run) => {
        const seen = (run.result.podsPerSecondRounds ??= {})[String(c)] ??= [];
        seen.push(await startPods(run, count, c, `bench-tp${c}-${r}`));
        run.result.podsPerSecond[String(c)] = percentile([...seen].sort((a, b) => a - b), 50);
        if (loaded) {
          await new Promise((r) => setTimeout(r, 500));
          const t = run.target;
          if (t.daemonPid !== undefined) run.result.loadedRssBytes = rssBytes(t.daemonPid);
          const monitors = t.monitors();
          run.result.loadedPods = count;
          run.result.monitorCount = monitors.length;
          run.result.monitorsRssBytes = monitors.reduce((sum, pid) => sum + rssBytes(pid), 0);
          run.result.monitorsRssPerPodBytes = run.result.monitorsRssBytes / count;
          run.result.monitorsPssPerPodBytes = monitors.reduce((sum, pid) =>
            sum + pssBytes(pid), 0) / count;
        }
        await run.target.removeAllPods();
      });
    }
  }

  for (const run of runs) run.finish();
  return runs.map((r) => r.result);
}
