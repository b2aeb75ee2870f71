/**
 * Where the daemon's idle RSS goes: starts ocid as the benchmark does (`./peers/ocid.ts`, the
 * flags of `src/v8_flags.ts`), walks the benchmark's warm-up (pull pause and busybox, one pod
 * lifecycle with an ExecSync, removeAllPods) and prints the daemon's RSS, anonymous and
 * file-backed parts after each step (500 ms later, as the benchmark reads its idle RSS), and
 * once more `--settle` seconds after the last (default 3).
 *
 * ```sh
 * flock /tmp/ocid-bench.lock deno run -A bench/idle_rss.ts [--runs 3] [--start-only] [--settle 60] [--smaps] [-- <deno flags>]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ocidTarget, startOcid } from "./peers/ocid.ts";
import { startRegistry } from "./_registry.ts";

/** RSS, RssAnon and RssFile of `pid` in MiB. */
function memory(pid: number): { rss: number; anon: number; file: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (key: string) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0);
  return { rss: kib("VmRSS") / 1024, anon: kib("RssAnon") / 1024, file: kib("RssFile") / 1024 };
}

/** The daemon's RSS by mapping (file path, or `[heap]`/`[anon]`), largest first, in MiB. */
function smaps(pid: number): [string, number][] {
  const by = new Map<string, number>();
  let name = "";
  for (const line of Deno.readTextFileSync(`/proc/${pid}/smaps`).split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      name = head[1] || "[anon]";
      continue;
    }
    const rss = line.match(/^Rss:\s+(\d+) kB/);
    if (rss) by.set(name, (by.get(name) ?? 0) + Number(rss[1]) / 1024);
  }
  return [...by].sort((a, b) => b[1] - a[1]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function once(
  denoFlags: string[],
  startOnly: boolean,
  settleSeconds = 3,
  showSmaps = false,
): Promise<Map<string, number>> {
  const scratch = await Deno.makeTempDir({ prefix: "ocid-idle-rss-" });
  const registry = await startRegistry(await Deno.makeTempDir({ prefix: "ocid-idle-rss-reg-" }));
  const peer = await startOcid({ denoFlags });
  const rss = new Map<string, number>();
  try {
    const t = await ocidTarget(peer, {
      busybox: registry.images.busybox,
      logDir: join(scratch, "logs"),
    });
    const step = async (name: string) => {
      await sleep(500);
      const m = memory(peer.daemon.pid);
      rss.set(name, m.rss);
      console.log(
        `${name.padEnd(14)} rss ${m.rss.toFixed(1)}  anon ${m.anon.toFixed(1)}  file ${
          m.file.toFixed(1)
        } MiB`,
      );
    };
    await step("started");
    if (startOnly) {
      await t.close();
      return rss;
    }
    await t.images!.pull(registry.images.pause);
    await t.images!.pull(registry.images.busybox);
    await step("pulled");
    const pod = await t.runPodSandbox("idle-rss");
    const c = await t.createContainer(pod, "c");
    await t.startContainer(c);
    await t.containerStatus(c);
    await t.execSync(c, ["true"]);
    await step("pod running");
    await t.stopContainer(c);
    await t.stopPodSandbox(pod);
    await t.removePodSandbox(pod);
    await t.removeAllPods();
    await step("idle");
    await sleep(settleSeconds * 1000 - 500);
    await step(`idle + ${settleSeconds} s`);
    if (showSmaps) {
      for (const [name, mib] of smaps(peer.daemon.pid).slice(0, 15)) {
        console.log(`  ${mib.toFixed(1).padStart(6)} MiB  ${name}`);
      }
    }
    await t.close();
  } finally {
    await peer.close();
    await registry.close();
    await Deno.remove(scratch, { recursive: true });
  }
  return rss;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: "1" },
      "start-only": { type: "boolean" },
      settle: { type: "string", default: "3" },
      smaps: { type: "boolean" },
    },
    allowPositionals: true,
  });
  const runs = Number(values.runs);
  const step = values["start-only"] ? "started" : "idle";
  const seen: number[] = [];
  for (let i = 0; i < runs; i++) {
    if (runs > 1) console.log(`run ${i + 1}/${runs}`);
    const settle = Number(values.settle);
    seen.push(
      (await once(positionals, values["start-only"] ?? false, settle, values.smaps)).get(step)!,
    );
  }
  seen.sort((a, b) => a - b);
  const median = seen[Math.floor(seen.length / 2)]!;
  console.log(`${step} RSS MiB: median ${median.toFixed(1)} of ${seen.map((x) => x.toFixed(1))}`);
}
