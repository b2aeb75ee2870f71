/**
 * Runs a real ocid daemon for integration tests: `deno run -A src/main.ts` on a temporary
 * socket with temporary root, runroot, log and CNI dirs, and a bridge conflist of the test's own
 * (its own bridge name and /24 in 10.234.0.0/16). `stop()` ends the daemon; `cleanup()` also
 * removes what the test's pods left (it asserts nothing: tests check for leaks themselves).
 *
 * @module
 */
import { join } from "node:path";
import { DENO_FLAGS } from "../../src/v8_flags.ts";
import { call, type CriClients, criClients } from "../../src/cri/proto.ts";

/** Options of {@linkcode startDaemon}. */
export interface TestDaemonOptions {
  /** Bridge name for the test's CNI network (at most 15 characters). */
  bridge: string;
  /** The test's subnet, e.g. "10.234.2.0/24". */
  subnet: string;
  /** An IPv6 subnet for dual-stack pods, e.g. "fd00:0:0:55::/64" (a second host-local range). */
  ipv6Subnet?: string;
  /** Write no CNI config (NetworkReady=false). */
  noNetwork?: boolean;
  /** Extra plugins appended to the conflist. */
  extraPlugins?: Record<string, unknown>[];
  /** Extra command-line flags. */
  flags?: string[];
  /** Extra environment variables for the daemon. */
  env?: Record<string, string>;
  /** Flags for `deno run` before the script, e.g. `--v8-flags=--expose-gc`. */
  denoFlags?: string[];
  /** Reuse these dirs (a restart of an earlier daemon). */
  dirs?: TestDirs;
  /** `drop_infra_ctr` (pods without an infra process). @default the daemon's default (true) */
  dropInfraCtr?: boolean;
  /** TOML appended to the daemon's config file (after the top-level keys), e.g. a `[cni]` table. */
  config?: string;
}

/** A way pods hold their namespaces; tests of the pod lifecycle run once per mode. */
export interface HolderMode {
  /** For test names: "pinned namespaces" or "infra container". */
  name: string;
  /** The `drop_infra_ctr` setting that gives pods (pid not POD) this mode. */
  dropInfraCtr: boolean;
  /** Whether a pod has an infra process (conmon + pause). */
  infra: boolean;
}

/** Both modes: pods without an infra process (the default) and with one. */
export const HOLDER_MODES: readonly HolderMode[] = [
  { name: "pinned namespaces", dropInfraCtr: true, infra: false },
  { name: "infra container", dropInfraCtr: false, infra: true },
];

/** A Deno test whose `fn` also gets the {@linkcode HolderMode} it runs in. */
export type HolderModeTest = Omit<Deno.TestDefinition, "fn"> & {
  fn: (t: Deno.TestContext, mode: HolderMode) => void | Promise<void>;
};

/** Registers the test once per {@linkcode HOLDER_MODES} entry, its name ending in the mode's. */
export function testEachHolderMode(test: HolderModeTest): void {
  for (const mode of HOLDER_MODES) {
    Deno.test({ ...test, name: `${test.name} (${mode.name})`, fn: (t) => test.fn(t, mode) });
  }
}

/** Mount points a daemon keeps for itself (the private netns and podns dirs) are filtered out. */
export function isDaemonDirMount(point: string): boolean {
  return point.endsWith("/netns") || point.endsWith("/podns");
}

/** The temporary directories of one test daemon. */
export interface TestDirs {
  base: string;
  root: string;
  runroot: string;
  socket: string;
  cniConfigDir: string;
  cniDataDir: string;
  logDir: string;
}

/** A running test daemon. */
export interface TestDaemon {
  dirs: TestDirs;
  clients: CriClients;
  process: Deno.ChildProcess;
  pid: number;
  /** What the daemon printed on stderr so far. */
  output(): string;
  /** Ends the daemon with SIGTERM (or `signal`) and waits for it. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
  /** Stops the daemon if running, removes pods it left, the bridge and the dirs. */
  cleanup(): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/** Makes the temporary dirs and the CNI conflist for a test daemon. */
export async function makeTestDirs(options: TestDaemonOptions): Promise<TestDirs> {
  const base = await Deno.makeTempDir({ prefix: "ocid-it-" });
  const dirs: TestDirs = {
    base,
    root: join(base, "root"),
    runroot: join(base, "run"),
    socket: join(base, "run", "ocid.sock"),
    cniConfigDir: join(base, "cni"),
    cniDataDir: join(base, "cni-data"),
    logDir: join(base, "logs"),
  };
  await Deno.mkdir(dirs.cniConfigDir, { recursive: true });
  if (!options.noNetwork) {
    const conflist = {
      cniVersion: "1.0.0",
      name: `ocid-test-${options.bridge}`,
      plugins: [
        {
          type: "bridge",
          bridge: options.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: dirs.cniDataDir,
            ranges: [
              [{ subnet: options.subnet }],
              ...(options.ipv6Subnet ? [[{ subnet: options.ipv6Subnet }]] : []),
            ],
            routes: [
              { dst: options.subnet },
              ...(options.ipv6Subnet ? [{ dst: options.ipv6Subnet }] : []),
            ],
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
        ...(options.extraPlugins ?? []),
      ],
    };
    await Deno.writeTextFile(join(dirs.cniConfigDir, "10-test.conflist"), JSON.stringify(conflist));
  }
  return dirs;
}

/** Starts a daemon and waits until it answers Version. */
export async function startDaemon(options: TestDaemonOptions): Promise<TestDaemon> {
  const dirs = options.dirs ?? (await makeTestDirs(options));
  const args = [
    "run",
    "-A",
    ...DENO_FLAGS,
    ...(options.denoFlags ?? []),
    join(ROOT, "src/main.ts"),
    "--root",
    dirs.root,
    "--runroot",
    dirs.runroot,
    "--listen",
    dirs.socket,
    "--cni-config-dir",
    dirs.cniConfigDir,
    "--cni-plugin-dir",
    "/usr/lib/cni",
    "--config",
    join(dirs.base, "ocid.conf"),
    "--log-level",
    "debug",
    ...(options.flags ?? []),
  ];
  await Deno.writeTextFile(
    join(dirs.base, "ocid.conf"),
    `pod_log_dir = "${dirs.logDir}"\n` +
      (options.dropInfraCtr === undefined ? "" : `drop_infra_ctr = ${options.dropInfraCtr}\n`) +
      (options.config ?? ""),
  );
  const process = new Deno.Command(Deno.execPath(), {
    args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    env: options.env ?? {},
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) stderr += decoder.decode(chunk);
  };
  const drained = Promise.all([drain(process.stdout), drain(process.stderr)]);
  let exited = false;
  const statusPromise = process.status.then((s) => {
    exited = true;
    return s;
  });

  const clients = criClients(dirs.socket);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await drained;
      clients.close();
      throw new Error(`ocid exited during start-up:\n${stderr}`);
    }
    try {
      await call(clients.runtime, "Version", { version: "v1" }, { deadlineMs: 1000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        process.kill("SIGKILL");
        await statusPromise;
        await drained;
        clients.close();
        throw new Error(`ocid did not answer within 30 s: ${err}\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (!exited) process.kill(signal);
    const status = await statusPromise;
    await drained;
    return status;
  };
  return {
    dirs,
    clients,
    process,
    pid: process.pid,
    output: () => stderr,
    stop,
    async cleanup() {
      clients.close();
      await stop().catch(() => {});
      await cleanupDirs(dirs, options.bridge);
    },
  };
}

/**
 * `cmd verb` of each "Ran program" record in a daemon's `log` (`bridge ADD`, `runc start`;
 * `unshare` alone): the programs it ran, as the daemon's debug log records them.
 */
export function programsRun(log: string): string[] {
  const out: string[] = [];
  for (const line of log.split("\n")) {
    const m = line.match(/ debug Ran program cmd=(\S+) verb=(\S+)/);
    if (m) out.push(m[1] === "unshare" ? "unshare" : `${m[1]} ${m[2]}`);
  }
  return out;
}

/** Runs `fn` and returns the programs the daemon ran meanwhile ({@linkcode programsRun}). */
export async function programsDuring(d: TestDaemon, fn: () => Promise<unknown>): Promise<string[]> {
  const from = d.output().length;
  await fn();
  // The daemon writes a call's records, then "<RPC> done" (or "failed"), on stderr before it
  // answers on the socket; this process may read the answer first. Wait (5 s at most) until
  // every call begun in the window has its end in the output.
  const settled = () => {
    const window = d.output().slice(from);
    const begun = window.match(/ [A-Z]\w+ request\b/g)?.length ?? 0;
    const ended = window.match(/ [A-Z]\w+ (?:done|failed)\b/g)?.length ?? 0;
    return ended >= begun;
  };
  const deadline = Date.now() + 5_000;
  while (!settled() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return programsRun(d.output().slice(from));
}

/** Kills what a test daemon's pods left (conmon, runc state, mounts, netns) and removes dirs. */
export async function cleanupDirs(dirs: TestDirs, bridge: string): Promise<void> {
  // Processes whose command line names our dirs: conmon and the containers it monitors.
  for (const pid of await pidsMentioning(dirs.base)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  const runtimeRoot = join(dirs.runroot, "runc");
  const ids: string[] = [];
  try {
    for await (const entry of Deno.readDir(runtimeRoot)) ids.push(entry.name);
  } catch { /* no runtime state */ }
  for (const id of ids) {
    await new Deno.Command("runc", { args: ["--root", runtimeRoot, "delete", "--force", id] })
      .output().catch(() => {});
  }
  for (const point of await mountsUnder(dirs.base)) {
    await new Deno.Command("umount", { args: ["-l", point] }).output();
  }
  await new Deno.Command("ip", { args: ["link", "del", bridge] }).output();
  await Deno.remove(dirs.base, { recursive: true }).catch(() => {});
  await removeTestCgroupParents();
}

/**
 * Removes the empty pod cgroup parents test pods used (`/ocid-it*`, in every hierarchy). The
 * kubelet creates and removes these on a node; runc removes only each container's own cgroup.
 * A parent still holding processes (another test's) refuses rmdir and stays.
 */
export async function removeTestCgroupParents(): Promise<void> {
  for await (const hierarchy of Deno.readDir("/sys/fs/cgroup")) {
    const dir = join("/sys/fs/cgroup", hierarchy.name);
    if (!hierarchy.isDirectory) continue;
    try {
      for await (const e of Deno.readDir(dir)) {
        if (e.isDirectory && e.name.startsWith("ocid-it")) {
          await Deno.remove(join(dir, e.name)).catch(() => {});
        }
      }
    } catch { /* not a readable hierarchy */ }
  }
}

/** Mount points below `prefix`, deepest first. */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n").map((l) => l.split(" ")[4] ?? "").filter((p) =>
    p.startsWith(prefix + "/")
  ).sort((a, b) => b.length - a.length);
}

/**
 * The dir of a test daemon's exec files (`<runroot>/exec/`, with the final slash): the command
 * line of each `<runtime> exec` it runs (ExecSync, streaming sessions, and the wrapper of a tty
 * session) names a file there, so {@linkcode pidsMentioning} finds those still running.
 */
export function execFilesDir(dirs: TestDirs): string {
  return join(dirs.runroot, "exec") + "/";
}

/** PIDs of processes whose command line contains `text`. */
export async function pidsMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (pid === Deno.pid) continue;
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    if (cmdline.replaceAll("\0", " ").includes(text)) pids.push(pid);
  }
  return pids;
}
