/**
 * `deno run -A bench/cpu_per_pod.ts --pods 50 --concurrency 10 --rounds 3`: CPU per started
 * pod (RunPodSandbox + CreateContainer + StartContainer) on ocid: the whole machine's busy
 * time (/proc/stat, so other load counts too), the daemon's own (utime + stime), its waited-for
 * children's (CNI plugins, runc verbs; not conmon's double-forked daemon nor what it runs), and
 * this client's, over each round;
 * pods are removed between rounds (not counted). The daemon's CPU is also split by thread (the
 * JS thread, tokio's blocking pool that runs file-system calls, V8's workers).
 * `--perf FILE` records the last round with `perf record -a -g`; `--strace FILE` traces the
 * daemon's (and its children's) file and process calls in the last round; `--ocid-arg X` passes
 * a flag to ocid.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startRegistry } from "./_registry.ts";
import { ocidTarget, startOcid } from "./peers/ocid.ts";
import { cpuSeconds } from "./_proc.ts";

/** CPU seconds by thread name (comm) of a process. */
function threadSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${e.name}/stat`);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const name = Number(e.name) === pid ? "main" : comm;
      out.set(name, (out.get(name) ?? 0) + (Number(rest[11]) + Number(rest[12])) / 100);
    } catch { /* gone */ }
  }
  return out;
}

/** CPU seconds of the waited-for children of a process (cutime + cstime), or 0 if it is gone. */
function childrenSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[13]) + Number(rest[14])) / 100;
  } catch {
    return 0;
  }
}

function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / 100;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    pods: { type: "string", default: "50" },
    concurrency: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    perf: { type: "string" },
    strace: { type: "string" },
    "ocid-arg": { type: "string", multiple: true },
  },
});
const n = Number(values.pods);
const c = Number(values.concurrency);
const rounds = Number(values.rounds);
const scratch = await Deno.makeTempDir({ prefix: "ocid-cpupod-" });
const registry = await startRegistry(await Deno.makeTempDir({ prefix: "ocid-cpupod-reg-" }));
const peer = await startOcid({ args: values["ocid-arg"] ?? [] });
console.log(`daemon pid ${peer.daemon.pid}`);
try {
  const t = await ocidTarget(peer, { busybox: registry.images.busybox, logDir: scratch });
  await t.images!.pull(registry.images.pause);
  await t.images!.pull(registry.images.busybox);
  for (let i = 0; i < 3; i++) {
    const pod = await t.runPodSandbox(`warm-${i}`);
    await t.startContainer(await t.createContainer(pod, "sleep"));
  }
  await t.removeAllPods();
  const rows: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    await new Promise((res) => setTimeout(res, 300));
    const m0 = machineBusySeconds(), d0 = cpuSeconds(peer.daemon.pid), s0 = cpuSeconds(Deno.pid);
    const k0 = childrenSeconds(peer.daemon.pid);
    const perf = values.perf && r === rounds - 1
      ? new Deno.Command("perf", {
        args: ["record", "-a", "-g", "-F", "999", "-o", values.perf],
        stdout: "null",
        stderr: "null",
      }).spawn()
      : undefined;
    const strace = values.strace && r === rounds - 1
      ? new Deno.Command("strace", {
        args: [
          "-f",
          "-qq",
          "-o",
          values.strace,
          "-e",
          "trace=execve,mkdir,mkdirat,openat,rename,renameat2,unlink,unlinkat,rmdir,fsync," +
          "fdatasync,mount,umount2,symlink,symlinkat,link,linkat,mknodat,bind",
          "-p",
          String(peer.daemon.pid),
        ],
        stdout: "null",
        stderr: "null",
      }).spawn()
      : undefined;
    if (perf || strace) await new Promise((res) => setTimeout(res, 1000));
    const th0 = threadSeconds(peer.daemon.pid);
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const pod = await t.runPodSandbox(`cpu-${r}-${i}`);
        await t.startContainer(await t.createContainer(pod, "sleep"));
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(c, n) }, worker));
    const secs = (performance.now() - t0) / 1000;
    if (strace) {
      strace.kill("SIGINT");
      await strace.status;
    }
    if (perf) {
      perf.kill("SIGINT");
      await perf.status;
    }
    const m = machineBusySeconds() - m0, d = cpuSeconds(peer.daemon.pid) - d0;
    const s = cpuSeconds(Deno.pid) - s0;
    const k = childrenSeconds(peer.daemon.pid) - k0;
    const th = [...threadSeconds(peer.daemon.pid)].map(([name, v]) =>
      `${name} ${(((v - (th0.get(name) ?? 0)) * 1000) / n).toFixed(1)}`
    );
    const ms = (x: number) => ((x * 1000) / n).toFixed(1);
    console.log(`  daemon threads, CPU ms/pod: ${th.join(", ")}`);
    rows.push([n / secs, m, d, k, s].map((x, i) => i === 0 ? x : (x * 1000) / n));
    console.log(
      `round ${r}: ${(n / secs).toFixed(1)} pods/s; CPU ms/pod: machine ${ms(m)}, daemon ${
        ms(d)
      }, daemon's waited children (CNI plugins, runc verbs) ${ms(k)}, client ${ms(s)}`,
    );
    await t.removeAllPods();
  }
  const med = (k: number) => rows.map((r) => r[k]!).sort((a, b) => a - b)[rows.length >> 1]!;
  console.log(
    `median: ${med(0).toFixed(1)} pods/s; CPU ms/pod: machine ${med(1).toFixed(1)}, daemon ${
      med(2).toFixed(1)
    }, daemon's children ${med(3).toFixed(1)}, client ${med(4).toFixed(1)}`,
  );
  await t.close();
} finally {
  await peer.close();
  await registry.close();
  await Deno.remove(scratch, { recursive: true }).catch(() => {});
}
