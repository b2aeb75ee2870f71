/**
 * `deno run -A bench/profile.ts`: profiles ocid per RPC. Starts a registry and ocid (debug
 * logs, V8 inspector on loopback), warms up, then for each RPC of the pod lifecycle runs it
 * `--pods` times in a row inside its own V8 CPU-profile window. For every RPC it prints:
 *
 * - wall time as the client sees it (p50) and the daemon's own figure (`<RPC> done ms=`);
 * - time in child processes per call, by program and verb, from the daemon's
 *   `Ran program` debug records (runc, conmon, CNI plugins, mount, umount, unshare);
 * - time the JS thread spent in in-process namespace sections, from the daemon's
 *   `Pinned namespaces in-process` debug records (mean and max per section);
 * - ocid's own time (daemon figure minus children; children running in parallel make it
 *   look smaller) and its CPU time from the profile, split into ocid code (`src/`),
 *   grpc-js, runtime internals, GC, and the top functions by self time.
 *
 * ```
 * deno run -A bench/profile.ts --pods 20 --out /tmp/ocid-profile
 * ```
 *
 * The raw `.cpuprofile` files (one per RPC) are written to `--out` and can be opened in
 * Chrome DevTools.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { startRegistry } from "./_registry.ts";
import { ocidTarget, startOcid } from "./peers/ocid.ts";
import { freePort, waitFor } from "./_proc.ts";
import { percentile } from "./stats.ts";

/** One node of a V8 CPU profile. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** A V8 CPU profile (`Profiler.stop`). */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** CPU time of a profile window, by category and by function. */
export interface CpuSummary {
  /** Milliseconds of non-idle samples. */
  busyMs: number;
  /** Milliseconds by category: ocid, grpc-js, npm (other), runtime, gc, program. */
  byCategory: Record<string, number>;
  /** Top functions by self time: `name (file:line)` and milliseconds. */
  top: Array<{ frame: string; ms: number }>;
}

/** Groups a frame's URL into a category. */
function category(url: string, fn: string): string {
  if (fn === "(garbage collector)") return "gc";
  if (fn === "(program)") return "program";
  // Packages first: grpc-js's own files are under `build/src/` too.
  if (url.includes("grpc-js")) return "grpc-js";
  if (url.includes("node_modules") || url.includes("npm")) return "npm";
  if (url.includes("/src/")) return "ocid";
  return "runtime";
}

/**
 * Sums self time per function and per category.
 *
 * @param profile a V8 CPU profile
 * @param topN how many functions to list
 */
export function summarizeProfile(profile: CpuProfile, topN = 10): CpuSummary {
  const byNode = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; charge it to the sample after it.
    const node = profile.samples[i]!;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(node, (selfUs.get(node) ?? 0) + dt);
  }
  let busy = 0;
  const byCategory: Record<string, number> = {};
  const byFrame = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byNode.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === "(idle)") continue;
    busy += us;
    const cat = category(url, functionName);
    byCategory[cat] = (byCategory[cat] ?? 0) + us / 1000;
    const file = url.replace(/^.*\/(src|node_modules|ext)\//, "$1/");
    const frame = `${functionName || "(anonymous)"}${file ? ` (${file}:${lineNumber + 1})` : ""}`;
    byFrame.set(frame, (byFrame.get(frame) ?? 0) + us / 1000);
  }
  const top = [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, topN)
    .map(([frame, ms]) => ({ frame, ms }));
  return { busyMs: busy / 1000, byCategory, top };
}

/** Child-process time found in a daemon log window. */
export interface LogSummary {
  /** `<RPC> done ms=` figures. */
  serverMs: number[];
  /** Total milliseconds by `cmd verb`, and how many runs. */
  children: Map<string, { ms: number; count: number }>;
  /** In-process namespace sections on the JS thread by `what`: total and longest ms, count. */
  inProcess: Map<string, { ms: number; max: number; count: number }>;
}

/**
 * Reads the daemon's debug log lines for one RPC window.
 *
 * @param text the log lines of the window
 * @param rpc the RPC name whose `done` records to collect
 */
export function summarizeLog(text: string, rpc: string): LogSummary {
  const serverMs: number[] = [];
  const children = new Map<string, { ms: number; count: number }>();
  const inProcess = new Map<string, { ms: number; max: number; count: number }>();
  for (const line of text.split("\n")) {
    const section = line.match(/ debug Pinned namespaces in-process what=(\S+).* ms=([\d.]+)/);
    if (section) {
      const e = inProcess.get(section[1]!) ?? { ms: 0, max: 0, count: 0 };
      const ms = Number(section[2]);
      e.ms += ms;
      e.max = Math.max(e.max, ms);
      e.count++;
      inProcess.set(section[1]!, e);
    }
    const done = line.match(/ (info|debug) (\w+) done .*ms=([\d.]+)/);
    if (done && done[2] === rpc) serverMs.push(Number(done[3]));
    const ran = line.match(/ debug Ran program cmd=(\S+) verb=(\S+).* ms=([\d.]+)/);
    if (ran) {
      const key = `${ran[1]} ${ran[2]}`;
      const e = children.get(key) ?? { ms: 0, count: 0 };
      e.ms += Number(ran[3]);
      e.count++;
      children.set(key, e);
    }
  }
  return { serverMs, children, inProcess };
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
export class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #listeners = new Map<string, (params: unknown) => void>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as {
        id?: number;
        method?: string;
        params?: unknown;
        result?: unknown;
        error?: { message: string };
      };
      if (msg.id === undefined) {
        if (msg.method) this.#listeners.get(msg.method)?.(msg.params);
        return;
      }
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    };
  }

  /** Connects to the first target the inspector at `host` lists, once it answers (10 s). */
  static async connect(host: string): Promise<Cdp> {
    await waitFor("the inspector", async () => {
      try {
        await fetch(`http://${host}/json/list`).then((r) => r.body?.cancel());
        return true;
      } catch {
        return false;
      }
    }, { timeoutMs: 10_000 });
    const list = await (await fetch(`http://${host}/json/list`)).json() as Array<
      { webSocketDebuggerUrl: string }
    >;
    const url = list[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`The inspector at ${host} lists no target`);
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`Cannot open the inspector WebSocket ${url}`));
    });
    return new Cdp(ws);
  }

  /** Calls `listener` with the params of each `method` event (one listener per method). */
  on(method: string, listener: (params: unknown) => void): void {
    this.#listeners.set(method, listener);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.#ws.close();
  }
}

const fmt = (n: number) => n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);

/** Runs the profile; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      pods: { type: "string", default: "20" },
      out: { type: "string" },
      top: { type: "string", default: "8" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("Usage: deno run -A bench/profile.ts [--pods N] [--top N] [--out DIR]");
    return 0;
  }
  const n = Number(values.pods);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`Invalid count "${values.pods}"`);
  const topN = Number(values.top);
  const log = (line: string) => console.error(`profile: ${line}`);
  const outDir = values.out ?? await Deno.makeTempDir({ prefix: "ocid-profile-" });
  await Deno.mkdir(outDir, { recursive: true });

  const cleanups: Array<() => Promise<void>> = [];
  try {
    const scratch = await Deno.makeTempDir({ prefix: "ocid-profile-run-" });
    cleanups.push(() => Deno.remove(scratch, { recursive: true }));
    const registryDir = await Deno.makeTempDir({ prefix: "ocid-profile-registry-" });
    log("starting the registry");
    const registry = await startRegistry(registryDir);
    cleanups.push(() => registry.close());

    const inspect = `127.0.0.1:${freePort()}`;
    log(`starting ocid (inspector on ${inspect})`);
    const peer = await startOcid({
      denoFlags: [`--inspect=${inspect}`],
      args: ["--log-level", "debug"],
    });
    cleanups.push(() => peer.close());
    const t = await ocidTarget(peer, { busybox: registry.images.busybox, logDir: scratch });
    cleanups.push(() => t.close());

    log("warm-up");
    await t.images!.pull(registry.images.pause);
    await t.images!.pull(registry.images.busybox);
    for (let i = 0; i < 3; i++) {
      const pod = await t.runPodSandbox(`warm-${i}`);
      const ctr = await t.createContainer(pod, "sleep");
      await t.startContainer(ctr);
      await t.containerStatus(ctr);
      await t.execSync(ctr, ["echo", "ok"]);
      await t.stopContainer(ctr);
      await t.stopPodSandbox(pod);
      await t.removePodSandbox(pod);
    }

    const cdp = await Cdp.connect(inspect);
    cleanups.push(() => Promise.resolve(cdp.close()));
    await cdp.send("Profiler.enable");
    await cdp.send("Profiler.setSamplingInterval", { interval: 100 });

    const pods: string[] = [];
    const ctrs: string[] = [];
    const steps: Array<[string, (i: number) => Promise<unknown>]> = [
      ["RunPodSandbox", async (i) => pods.push(await t.runPodSandbox(`prof-${i}`))],
      ["CreateContainer", async (i) => ctrs.push(await t.createContainer(pods[i]!, "sleep"))],
      ["StartContainer", (i) => t.startContainer(ctrs[i]!)],
      ["ContainerStatus", (i) => t.containerStatus(ctrs[i]!)],
      ["ListContainers", () => t.listContainers()],
      ["ExecSync", (i) => t.execSync(ctrs[i]!, ["echo", "ok"])],
      ["StopContainer", (i) => t.stopContainer(ctrs[i]!)],
      ["StopPodSandbox", (i) => t.stopPodSandbox(pods[i]!)],
      ["RemovePodSandbox", (i) => t.removePodSandbox(pods[i]!)],
    ];
    const lines: string[] = [];
    const out = (s = "") => lines.push(s);
    for (const [rpc, step] of steps) {
      log(`${rpc} x${n}`);
      const logStart = (await Deno.stat(peer.daemon.logPath)).size;
      await cdp.send("Profiler.start");
      const wall: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await step(i);
        wall.push(performance.now() - t0);
      }
      const { profile } = await cdp.send<{ profile: CpuProfile }>("Profiler.stop");
      await Deno.writeTextFile(join(outDir, `${rpc}.cpuprofile`), JSON.stringify(profile));
      const logText = await readFrom(peer.daemon.logPath, logStart);
      const ls = summarizeLog(logText, rpc);
      const cpu = summarizeProfile(profile, topN);
      const server = ls.serverMs.length
        ? ls.serverMs.reduce((a, b) => a + b) / ls.serverMs.length
        : 0;
      let childMs = 0;
      for (const c of ls.children.values()) childMs += c.ms / n;
      out(`== ${rpc} (x${n})`);
      out(
        `  wall p50 ${fmt(percentile([...wall].sort((a, b) => a - b), 50))} ms, daemon mean ${
          fmt(server)
        } ms, ` +
          `children ${fmt(childMs)} ms/call, own ${fmt(server - childMs)} ms/call, ` +
          `CPU ${fmt(cpu.busyMs / n)} ms/call`,
      );
      for (const [k, c] of [...ls.children].sort((a, b) => b[1].ms - a[1].ms)) {
        out(`    child ${k.padEnd(24)} ${fmt(c.ms / n).padStart(7)} ms/call  (${c.count / n}x)`);
      }
      for (const [k, c] of ls.inProcess) {
        out(
          `    JS thread, in-process ${k.padEnd(8)} ${fmt(c.ms / c.count).padStart(7)} ms mean, ` +
            `${fmt(c.max)} ms max (${c.count / n}x)`,
        );
      }
      const cats = Object.entries(cpu.byCategory).sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${fmt(v / n)}`).join(", ");
      out(`    CPU ms/call by part: ${cats}`);
      for (const f of cpu.top) out(`    cpu ${fmt(f.ms / n).padStart(7)} ms/call  ${f.frame}`);
      out();
    }
    console.log(lines.join("\n"));
    console.log(`CPU profiles: ${outDir}/<RPC>.cpuprofile`);
    return 0;
  } finally {
    while (cleanups.length) await cleanups.pop()!().catch((e) => log(`cleanup: ${e}`));
  }
}

/** The text of a file from byte `offset` on. */
async function readFrom(path: string, offset: number): Promise<string> {
  return new TextDecoder().decode((await Deno.readFile(path)).subarray(offset));
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    console.error(`profile: ${err instanceof Error ? err.stack : err}`);
    Deno.exit(2);
  }
}
