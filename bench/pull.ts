/**
 * The image pull benchmark (issue 3): ocid's pull of a larger multi-layer image against
 * `skopeo copy` of the same image, side by side in one run.
 *
 * It starts a docker-registry on 127.0.0.1 with temp storage, builds a 7-layer image of
 * about 100 MB (busybox-static, then layers of random and of compressible text files) with
 * umoci, pushes it with skopeo, and then, run after run, times in a rotating order:
 *
 * - `ocid-daemon`: PullImage on a running ocid (real Deno binary, its own temp root, no
 *   CNI network), then RemoveImage so the next pull starts cold; peak RSS is the daemon's
 *   VmHWM, reset before each pull through `/proc/<pid>/clear_refs`.
 * - `ocid-library`: `ImageService.open()` on a fresh temp root and `pull()` in this process
 *   (the same code without gRPC; no RSS figure: it shares this process).
 * - `skopeo-dir`: `skopeo copy docker://… dir:<fresh dir>` (downloads, does not unpack).
 * - `skopeo-oci+unpack`: `skopeo copy docker://… oci:<fresh dir>:bench` then
 *   `umoci raw unpack` of it into a rootfs: the work ocid does (decompress and apply layers).
 *
 * Prints a table (median/min/max wall time, peak RSS) and the median of the per-run ratios
 * ocid/skopeo, and writes the same as JSON to `bench/results/pull-<timestamp>.json`.
 * Everything it creates lives under one temp dir, removed at the end (also on failure and
 * on Ctrl-C).
 *
 * ```sh
 * deno task bench:pull --runs 5
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { defaultConfig } from "../src/config/defaults.ts";
import { ImageService } from "../src/image/mod.ts";
import { denoRunner, text } from "../src/process.ts";
import { startRegistry } from "../test/helpers/registry.ts";
import { skopeoPush } from "../test/helpers/images.ts";
import { connectCri, type CriClient } from "./_client.ts";
import { ocidArgs } from "./peers/ocid.ts";
import {
  cpuSeconds,
  type Daemon,
  removeTree,
  rssBytes,
  startDaemon,
  tail,
  waitFor,
} from "./_proc.ts";

// ---------------------------------------------------------------------------------------
// Pure parts (unit-tested in pull_test.ts)

/** The ways of pulling the benchmark compares. */
export const MODES = ["ocid-daemon", "ocid-library", "skopeo-dir", "skopeo-oci+unpack"] as const;

/** One way of pulling. */
export type Mode = typeof MODES[number];

/** One timed pull. */
export interface Sample {
  run: number;
  mode: Mode;
  ms: number;
  /** Peak resident set size of the pulling process, when measured. */
  peakRssBytes?: number;
  /** Resident set size of the pulling process just before the pull (a daemon's idle RSS). */
  startRssBytes?: number;
  /** CPU seconds of the pulling process(es), when measured. */
  cpuSeconds?: number;
  /** Parts of the wall time (`copy`, `unpack`) for composite modes. */
  parts?: Record<string, number>;
}

/** Median, min, max and mean of a sample set. */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
}

/**
 * Summarises numbers; the median of an even count is the mean of the two middle values.
 *
 * @param values at least one number
 * @throws {RangeError} When there are none
 */
export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new RangeError("Cannot summarize no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return {
    n: s.length,
    median,
    min: s[0]!,
    max: s[s.length - 1]!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/**
 * Ratios `a/b` of the runs where both modes have a sample, in run order.
 *
 * @param samples every sample of the benchmark
 * @param options the numerator and denominator modes
 */
export function pairedRatios(
  samples: readonly Sample[],
  options: { a: Mode; b: Mode },
): number[] {
  const byRun = (mode: Mode) =>
    new Map(samples.filter((s) => s.mode === mode).map((s) => [s.run, s]));
  const as = byRun(options.a);
  const bs = byRun(options.b);
  const out: number[] = [];
  for (const [run, a] of [...as].sort((x, y) => x[0] - y[0])) {
    const b = bs.get(run);
    if (b && b.ms > 0) out.push(a.ms / b.ms);
  }
  return out;
}

/**
 * The order of the modes in run `run`: rotated by one each run so that no mode always
 * goes first (warm caches, a busy disk after a large write).
 */
export function modeOrder(modes: readonly Mode[], run: number): Mode[] {
  const k = modes.length === 0 ? 0 : run % modes.length;
  return [...modes.slice(k), ...modes.slice(0, k)];
}

/** What the benchmark reports per mode. */
export interface ModeReport {
  mode: Mode;
  ms: Summary;
  peakRssBytes?: Summary;
  cpuSeconds?: Summary;
  parts?: Record<string, Summary>;
}

/** A ratio between two modes, pair by pair. */
export interface RatioReport {
  a: Mode;
  b: Mode;
  /** `a.ms / b.ms` per run. */
  perRun: number[];
  median: number;
}

/** Builds the per-mode summaries and the ocid/skopeo ratios from the samples. */
export function buildSummary(
  samples: readonly Sample[],
): { modes: ModeReport[]; ratios: RatioReport[] } {
  const modes: ModeReport[] = [];
  for (const mode of MODES) {
    const mine = samples.filter((s) => s.mode === mode);
    if (mine.length === 0) continue;
    const report: ModeReport = { mode, ms: summarize(mine.map((s) => s.ms)) };
    const rss = mine.flatMap((s) => s.peakRssBytes === undefined ? [] : [s.peakRssBytes]);
    if (rss.length) report.peakRssBytes = summarize(rss);
    const cpu = mine.flatMap((s) => s.cpuSeconds === undefined ? [] : [s.cpuSeconds]);
    if (cpu.length) report.cpuSeconds = summarize(cpu);
    const partNames = [...new Set(mine.flatMap((s) => Object.keys(s.parts ?? {})))];
    if (partNames.length) {
      report.parts = Object.fromEntries(
        partNames.map((p) => [p, summarize(mine.flatMap((s) => s.parts?.[p] ?? []))]),
      );
    }
    modes.push(report);
  }
  const ratios: RatioReport[] = [];
  for (const a of ["ocid-daemon", "ocid-library"] as const) {
    for (const b of ["skopeo-dir", "skopeo-oci+unpack"] as const) {
      const perRun = pairedRatios(samples, { a, b });
      if (perRun.length) ratios.push({ a, b, perRun, median: summarize(perRun).median });
    }
  }
  return { modes, ratios };
}

const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
const fmtMs = (ms: number) => ms.toFixed(0);
const fmtMb = (b: number) => (b / 2 ** 20).toFixed(0);

/** Formats the summary as a plain-text table. */
export function formatSummary(summary: { modes: ModeReport[]; ratios: RatioReport[] }): string {
  const lines = [
    `${pad("mode", 20)}${lpad("median ms", 10)}${lpad("min ms", 9)}${lpad("max ms", 9)}` +
    `${lpad("peak RSS MiB", 14)}${lpad("CPU s", 8)}  parts (median ms)`,
  ];
  for (const m of summary.modes) {
    const parts = Object.entries(m.parts ?? {}).map(([k, v]) => `${k} ${fmtMs(v.median)}`);
    lines.push(
      `${pad(m.mode, 20)}${lpad(fmtMs(m.ms.median), 10)}${lpad(fmtMs(m.ms.min), 9)}` +
        `${lpad(fmtMs(m.ms.max), 9)}` +
        `${lpad(m.peakRssBytes ? fmtMb(m.peakRssBytes.max) : "-", 14)}` +
        `${lpad(m.cpuSeconds ? m.cpuSeconds.median.toFixed(2) : "-", 8)}  ${parts.join(", ")}`,
    );
  }
  lines.push("");
  for (const r of summary.ratios) {
    lines.push(
      `${pad(`${r.a} / ${r.b}`, 36)} median ${r.median.toFixed(2)}x  (runs: ${
        r.perRun.map((x) => x.toFixed(2)).join(" ")
      })`,
    );
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------
// The image

/** One generated file set of a layer. */
interface FileSpec {
  kind: "random" | "text";
  count: number;
  bytes: number;
}

/** Layers above busybox: ~95 MB, half incompressible, half text; few big and many small. */
const LAYERS: FileSpec[][] = [
  [{ kind: "random", count: 4, bytes: 5 << 20 }],
  [{ kind: "text", count: 2000, bytes: 10 << 10 }],
  [{ kind: "random", count: 1, bytes: 15 << 20 }],
  [{ kind: "text", count: 200, bytes: 100 << 10 }],
  [{ kind: "random", count: 500, bytes: 20 << 10 }, { kind: "text", count: 50, bytes: 40 << 10 }],
  [{ kind: "text", count: 1, bytes: 10 << 20 }, { kind: "random", count: 2, bytes: 4 << 20 }],
];

const WORDS = ("container runtime image layer manifest digest registry pull push overlay " +
  "kubelet pod sandbox network namespace cgroup memory error warning info debug request " +
  "response status timeout retry socket stream chunk header payload config").split(" ");

/** A pool of log-like text (gzip shrinks it about 4x) that text files take slices of. */
function textPool(bytes: number): Uint8Array {
  const rnd = crypto.getRandomValues(new Uint32Array(16384));
  const parts: string[] = [];
  let size = 0;
  let i = 0;
  while (size < bytes) {
    const r = rnd[i++ % 16384]! + i;
    const line = `2026-01-${String(1 + (r % 28)).padStart(2, "0")}T${r % 24}:${r % 60} ` +
      `${WORDS[r % WORDS.length]} ${WORDS[(r >>> 5) % WORDS.length]} id=${
        (r * 2654435761 >>> 0)
          .toString(16)
      } ${WORDS[(r >>> 10) % WORDS.length]} n=${r % 1000}\n`;
    parts.push(line);
    size += line.length;
  }
  return new TextEncoder().encode(parts.join("")).subarray(0, bytes);
}

function fileBytes(kind: FileSpec["kind"], bytes: number, pool: Uint8Array): Uint8Array {
  if (kind === "text") {
    const start = Math.floor(Math.random() * (pool.length - bytes));
    return pool.subarray(start, start + bytes);
  }
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function installBusybox(rootfs: string): Promise<void> {
  for (const d of ["bin", "tmp", "etc"]) await Deno.mkdir(join(rootfs, d), { recursive: true });
  await Deno.copyFile("/usr/bin/busybox", join(rootfs, "bin/busybox"));
  await Deno.chmod(join(rootfs, "bin/busybox"), 0o755);
  const list = text((await denoRunner.run("/usr/bin/busybox", ["--list"])).stdout).split("\n");
  for (const applet of list) {
    if (applet && applet !== "busybox") await Deno.symlink("busybox", join(rootfs, "bin", applet));
  }
  await Deno.writeTextFile(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
}

/** Facts about the built image. */
export interface ImageInfo {
  ref: string;
  layers: number;
  /** Sum of the compressed layer sizes in the manifest. */
  compressedBytes: number;
  /** Sum of the generated file sizes plus busybox. */
  uncompressedBytes: number;
  buildMs: number;
  pushMs: number;
}

/**
 * Builds the benchmark image as an OCI layout with umoci (one `repack` per layer) and
 * pushes it to `host` with skopeo.
 */
async function buildAndPush(dir: string, host: string): Promise<ImageInfo> {
  const started = performance.now();
  const run = (args: string[]) => denoRunner.run("umoci", args, { timeoutMs: 300_000 });
  const layout = join(dir, "layout");
  const image = `${layout}:bench`;
  const bundle = join(dir, "bundle");
  await run(["init", "--layout", layout]);
  await run(["new", "--image", image]);
  await run(["unpack", "--image", image, bundle]);
  const rootfs = join(bundle, "rootfs");
  await installBusybox(rootfs);
  let uncompressed = (await Deno.stat("/usr/bin/busybox")).size;
  await run(["repack", "--no-history", "--refresh-bundle", "--image", image, bundle]);
  const pool = textPool(16 << 20);
  for (const [l, specs] of LAYERS.entries()) {
    const ldir = join(rootfs, `data${l + 1}`);
    await Deno.mkdir(ldir);
    for (const [s, spec] of specs.entries()) {
      for (let f = 0; f < spec.count; f++) {
        await Deno.writeFile(
          join(ldir, `${spec.kind}-${s}-${f}`),
          fileBytes(spec.kind, spec.bytes, pool),
        );
        uncompressed += spec.bytes;
      }
    }
    await run(["repack", "--no-history", "--refresh-bundle", "--image", image, bundle]);
  }
  await run([
    "config",
    "--no-history",
    "--image",
    image,
    "--config.cmd",
    "sh",
    "--config.env",
    "PATH=/bin",
  ]);
  await Deno.remove(bundle, { recursive: true });
  const buildMs = performance.now() - started;

  const pushStarted = performance.now();
  const ref = `${host}/ocid-bench/pull-large:latest`;
  await skopeoPush(layout, { tag: "bench", dest: ref });
  const pushMs = performance.now() - pushStarted;

  const index = JSON.parse(await Deno.readTextFile(join(layout, "index.json")));
  const top = index.manifests.find((m: { annotations?: Record<string, string> }) =>
    m.annotations?.["org.opencontainers.image.ref.name"] === "bench"
  );
  const manifest = JSON.parse(
    await Deno.readTextFile(join(layout, "blobs/sha256", String(top.digest).slice(7))),
  ) as { layers: { size: number }[] };
  await Deno.remove(layout, { recursive: true });
  return {
    ref,
    layers: manifest.layers.length,
    compressedBytes: manifest.layers.reduce((n, l) => n + l.size, 0),
    uncompressedBytes: uncompressed,
    buildMs,
    pushMs,
  };
}

// ---------------------------------------------------------------------------------------
// The contenders

/** Bytes and file count of a tree (`du`), for a sanity check of what each mode wrote. */
async function treeBytes(dir: string): Promise<number> {
  const r = await denoRunner.run("du", ["-sb", dir]);
  return Number(text(r.stdout).split("\t")[0]);
}

/** Peak RSS in bytes (VmHWM) of a process, or undefined when unreadable. */
function peakRss(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets a process's VmHWM to its current RSS (`clear_refs` value 5, Linux ≥ 4.0). */
function resetPeakRss(pid: number): void {
  Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
}

/** A running ocid for the daemon mode. */
interface OcidDaemon {
  daemon: Daemon;
  client: CriClient;
  root: string;
  close(): Promise<void>;
}

const REPO = fileURLToPath(new URL("../", import.meta.url));

/** Starts ocid with the real Deno binary, temp dirs under `dir`, and no CNI network. */
async function startOcidDaemon(dir: string): Promise<OcidDaemon> {
  const root = join(dir, "root");
  const runroot = join(dir, "run");
  const socket = join(dir, "ocid.sock");
  const cniDir = join(dir, "net.d");
  await Deno.mkdir(cniDir, { recursive: true });
  const daemon = startDaemon(Deno.execPath(), ocidArgs({ root, runroot, socket, cniDir }), {
    logPath: join(dir, "ocid.log"),
    cwd: REPO,
  });
  const client = connectCri(socket, { timeoutMs: 600_000 });
  const close = async () => {
    client.close();
    await daemon.stop(15_000);
  };
  try {
    let exited = false;
    daemon.exited.then(() => exited = true);
    await waitFor("ocid to answer Version", async () => {
      if (exited) throw new Error("ocid exited during start-up");
      try {
        await client.runtime.Version!({ version: "v1" }, { timeoutMs: 1000 });
        return true;
      } catch {
        return false;
      }
    }, { timeoutMs: 30_000, intervalMs: 100 });
  } catch (err) {
    const log = tail(daemon.logPath, 30);
    await close();
    throw new Error(`Cannot start ocid for the pull benchmark: ${(err as Error).message}\n${log}`, {
      cause: err,
    });
  }
  return { daemon, client, root, close };
}

async function listNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) out.push(e.name);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out;
}

/** PullImage, then RemoveImage; checks that the store holds no layer before and after. */
async function pullDaemon(ocid: OcidDaemon, ref: string, run: number): Promise<Sample> {
  const layersDir = join(ocid.root, "images/layers");
  const before = await listNames(layersDir);
  if (before.length) {
    throw new Error(`ocid's layer store is not empty before run ${run}: ${before.join(", ")}`);
  }
  resetPeakRss(ocid.daemon.pid);
  const rss0 = rssBytes(ocid.daemon.pid);
  const cpu0 = cpuSeconds(ocid.daemon.pid);
  const t0 = performance.now();
  const res = await ocid.client.image.PullImage!({ image: { image: ref } });
  const ms = performance.now() - t0;
  const cpu = cpuSeconds(ocid.daemon.pid) - cpu0;
  const rss = peakRss(ocid.daemon.pid);
  if (!String(res.image_ref ?? "").startsWith("sha256:")) {
    throw new Error(`PullImage of "${ref}" answered no image id: ${JSON.stringify(res)}`);
  }
  await ocid.client.image.RemoveImage!({ image: { image: ref } });
  const after = await listNames(layersDir);
  if (after.length) {
    throw new Error(`RemoveImage of "${ref}" left layers in ocid's store: ${after.join(", ")}`);
  }
  return {
    run,
    mode: "ocid-daemon",
    ms,
    cpuSeconds: cpu,
    startRssBytes: rss0,
    ...(rss ? { peakRssBytes: rss } : {}),
  };
}

/** `ImageService.open()` on a fresh root and `pull()`, in this process. */
async function pullLibrary(
  dir: string,
  ref: string,
  run: number,
): Promise<{ sample: Sample; bytes: number }> {
  const root = await Deno.makeTempDir({ dir, prefix: "lib-" });
  try {
    const base = defaultConfig();
    const config = {
      root,
      image: { ...base.image, registriesConf: join(root, "no-registries.conf") },
    };
    const t0 = performance.now();
    const service = await ImageService.open({ config, runner: denoRunner });
    const rec = await service.pull(ref);
    const ms = performance.now() - t0;
    const bytes = run === 0 ? await treeBytes(join(root, "images/layers")) : rec.size;
    return { sample: { run, mode: "ocid-library", ms }, bytes };
  } finally {
    await removeTree(root);
  }
}

/** Runs `cmd args` under `/usr/bin/time`, returning wall ms, peak RSS and CPU seconds. */
async function timed(
  cmd: string,
  args: string[],
  dir: string,
): Promise<{ ms: number; rss: number; cpu: number }> {
  const out = join(dir, `time-${crypto.randomUUID()}`);
  const t0 = performance.now();
  await denoRunner.run("/usr/bin/time", ["-f", "%M %U %S", "-o", out, cmd, ...args], {
    timeoutMs: 600_000,
  });
  const ms = performance.now() - t0;
  const [rssKb, user, sys] = (await Deno.readTextFile(out)).trim().split("\n").at(-1)!.split(" ")
    .map(Number) as [number, number, number];
  await Deno.remove(out);
  return { ms, rss: rssKb * 1024, cpu: user + sys };
}

/** `skopeo copy docker://ref dir:<fresh dir>`. */
async function pullSkopeoDir(dir: string, ref: string, run: number): Promise<Sample> {
  const dest = join(dir, `skopeo-dir-${run}`);
  try {
    const t = await timed("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `dir:${dest}`,
    ], dir);
    return { run, mode: "skopeo-dir", ms: t.ms, peakRssBytes: t.rss, cpuSeconds: t.cpu };
  } finally {
    await removeTree(dest);
  }
}

/** `skopeo copy docker://ref oci:<fresh dir>:bench`, then `umoci raw unpack` into a rootfs. */
async function pullSkopeoUnpack(
  dir: string,
  ref: string,
  run: number,
): Promise<{ sample: Sample; bytes: number }> {
  const layout = join(dir, `skopeo-oci-${run}`);
  const rootfs = join(dir, `skopeo-rootfs-${run}`);
  try {
    const copy = await timed("skopeo", [
      "copy",
      "--quiet",
      "--src-tls-verify=false",
      `docker://${ref}`,
      `oci:${layout}:bench`,
    ], dir);
    const unpack = await timed(
      "umoci",
      ["raw", "unpack", "--image", `${layout}:bench`, rootfs],
      dir,
    );
    const bytes = run === 0 ? await treeBytes(rootfs) : 0;
    return {
      sample: {
        run,
        mode: "skopeo-oci+unpack",
        ms: copy.ms + unpack.ms,
        peakRssBytes: Math.max(copy.rss, unpack.rss),
        cpuSeconds: copy.cpu + unpack.cpu,
        parts: { copy: copy.ms, unpack: unpack.ms },
      },
      bytes,
    };
  } finally {
    await removeTree(layout);
    await removeTree(rootfs);
  }
}

// ---------------------------------------------------------------------------------------
// The command

/** Options of {@linkcode runPullBench}. */
export interface PullBenchOptions {
  /** Alternations of all modes. @default 5 */
  runs?: number;
  /** Modes to measure. @default MODES */
  modes?: readonly Mode[];
  /** Progress lines. @default console.error */
  log?: (line: string) => void;
  /** Stops between two pulls (the stack then cleans up). */
  signal?: AbortSignal;
}

/** What {@linkcode runPullBench} returns (and writes as JSON). */
export interface PullBenchReport {
  startedAt: string;
  host: { cpus: number; kernel: string; deno: string };
  image: ImageInfo;
  /** Bytes each unpacking mode wrote in run 0 (`du -sb`), to check they did the same work. */
  unpackedBytes: Partial<Record<Mode, number>>;
  samples: Sample[];
  modes: ModeReport[];
  ratios: RatioReport[];
}

/**
 * Runs the whole benchmark: registry, image, ocid, the alternated pulls, cleanup.
 *
 * @returns the report
 * @throws Error when a step fails (after cleaning up)
 */
export async function runPullBench(options: PullBenchOptions = {}): Promise<PullBenchReport> {
  const runs = options.runs ?? 5;
  const modes = options.modes ?? MODES;
  const log = options.log ?? ((l: string) => console.error(l));
  const startedAt = new Date().toISOString();
  await using stack = new AsyncDisposableStack();
  const dir = await Deno.makeTempDir({ prefix: "ocid-bench-pull-" });
  stack.defer(() => removeTree(dir));

  log("Starting docker-registry on 127.0.0.1");
  const registry = await startRegistry();
  stack.defer(() => registry.stop());
  log("Building and pushing the image (umoci, skopeo)");
  const image = await buildAndPush(join(dir, "build"), registry.host);
  log(
    `Image ${image.ref}: ${image.layers} layers, ${fmtMb(image.compressedBytes)} MiB compressed, ` +
      `${fmtMb(image.uncompressedBytes)} MiB of files; built in ${fmtMs(image.buildMs)} ms, ` +
      `pushed in ${fmtMs(image.pushMs)} ms`,
  );

  let ocid: OcidDaemon | undefined;
  if (modes.includes("ocid-daemon")) {
    log("Starting ocid");
    const o = await startOcidDaemon(join(dir, "ocid"));
    ocid = o;
    stack.defer(() => o.close());
  }
  const work = join(dir, "work");
  await Deno.mkdir(work);
  const samples: Sample[] = [];
  const unpackedBytes: Partial<Record<Mode, number>> = {};
  for (let run = 0; run < runs; run++) {
    for (const mode of modeOrder(modes, run)) {
      options.signal?.throwIfAborted();
      let sample: Sample;
      if (mode === "ocid-daemon") {
        sample = await pullDaemon(ocid!, image.ref, run);
      } else if (mode === "ocid-library") {
        const r = await pullLibrary(work, image.ref, run);
        sample = r.sample;
        if (run === 0) unpackedBytes[mode] = r.bytes;
      } else if (mode === "skopeo-dir") {
        sample = await pullSkopeoDir(work, image.ref, run);
      } else {
        const r = await pullSkopeoUnpack(work, image.ref, run);
        sample = r.sample;
        if (run === 0) unpackedBytes[mode] = r.bytes;
      }
      samples.push(sample);
      log(
        `run ${run + 1}/${runs} ${pad(mode, 18)} ${lpad(fmtMs(sample.ms), 7)} ms` +
          (sample.peakRssBytes ? `  peak RSS ${fmtMb(sample.peakRssBytes)} MiB` : "") +
          (sample.startRssBytes ? ` (${fmtMb(sample.startRssBytes)} MiB before)` : ""),
      );
    }
  }
  const { modes: modeReports, ratios } = buildSummary(samples);
  return {
    startedAt,
    host: {
      cpus: navigator.hardwareConcurrency,
      kernel: Deno.osRelease(),
      deno: Deno.version.deno,
    },
    image,
    unpackedBytes,
    samples,
    modes: modeReports,
    ratios,
  };
}

function printUsage(): void {
  console.log(`Usage: deno task bench:pull [options]

Pulls a ~100 MB 7-layer image from a local docker-registry with ocid (daemon PullImage and
the ImageService library) and with skopeo (dir:, and oci: + umoci raw unpack), alternating.

Options:
  --runs N        alternations of all modes (default 5)
  --modes LIST    comma-separated subset of: ${MODES.join(",")}
  --out FILE      JSON path (default bench/results/pull-<timestamp>.json)
  -h, --help      this text`);
}

/** Parses the command line; exported for tests. */
export function parseCommandLine(args: string[]): {
  help: boolean;
  runs: number;
  modes: Mode[];
  out?: string;
} {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: "string", default: "5" },
      modes: { type: "string", default: MODES.join(",") },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new RangeError(`Cannot use --runs "${values.runs}": give a whole number ≥ 1`);
  }
  const modes = values.modes.split(",").filter((m) => m !== "");
  for (const m of modes) {
    if (!(MODES as readonly string[]).includes(m)) {
      throw new RangeError(`Cannot use mode "${m}" in --modes: use some of ${MODES.join(", ")}`);
    }
  }
  if (modes.length === 0) throw new RangeError("Cannot run with no --modes");
  return {
    help: values.help,
    runs,
    modes: modes as Mode[],
    ...(values.out !== undefined ? { out: values.out } : {}),
  };
}

async function main(args: string[]): Promise<number> {
  const cli = parseCommandLine(args);
  if (cli.help) {
    printUsage();
    return 0;
  }
  // Ctrl-C stops after the pull in progress; the benchmark then cleans up and throws.
  const ac = new AbortController();
  const onSignal = () => {
    console.error("Interrupted; stopping after the current pull and cleaning up");
    ac.abort(new Error("Interrupted"));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const report = await runPullBench({ runs: cli.runs, modes: cli.modes, signal: ac.signal });
    console.log(formatSummary(report));
    const out = cli.out ??
      join(
        fileURLToPath(new URL("./results/", import.meta.url)),
        `pull-${report.startedAt.replace(/[:.]/g, "-")}.json`,
      );
    await Deno.mkdir(join(out, ".."), { recursive: true });
    await Deno.writeTextFile(out, JSON.stringify(report, null, 2) + "\n");
    console.log(`\nWrote ${out}`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
