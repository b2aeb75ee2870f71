/**
 * Process and host helpers of the benchmark: RSS and CPU time from /proc, finding a
 * runtime's monitor processes, starting a daemon with its output in a log file, and the
 * cleanup helpers (unmount everything under a dir, delete a link).
 *
 * @module
 */
import { denoRunner } from "../src/process.ts";

const CLK_TCK = 100;

/** Resident set size of one process in bytes (VmRSS), or 0 if it is gone. */
export function rssBytes(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Proportional set size of one process in bytes (shared pages divided among their users,
 * from /proc/<pid>/smaps_rollup), or 0 if it is gone. Sums of PSS do not count a shared
 * binary once per process as sums of RSS do.
 */
export function pssBytes(pid: number): number {
  try {
    const rollup = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(rollup);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (utime + stime) a process has used, or 0 if it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised comm; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** One process seen in /proc. */
export interface ProcInfo {
  pid: number;
  comm: string;
  cmdline: string[];
}

/** Lists the processes whose `comm` is one of `names` (for example "conmon"). */
export function findProcesses(names: string[]): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const comm = Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim();
      if (!names.includes(comm)) continue;
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      out.push({ pid: Number(entry.name), comm, cmdline });
    } catch {
      // The process exited while we looked.
    }
  }
  return out;
}

/**
 * Monitors (conmon, shims) that belong to one runtime instance: processes named one of
 * `names` whose command line mentions `marker` (a temp dir or socket unique to the instance).
 */
export function findMonitors(names: string[], marker: string): number[] {
  return findProcesses(names)
    .filter((p) => p.cmdline.some((a) => a.includes(marker)))
    .map((p) => p.pid);
}

/** A long-running program whose stdout and stderr go to a log file. */
export interface Daemon {
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code when the program ends. */
  readonly exited: Promise<number>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `cmd args...` with stdout and stderr appended to `logPath`, stdin closed.
 *
 * @param cmd program path
 * @param args its arguments
 * @param options.logPath the log file
 * @param options.cwd working directory
 */
export function startDaemon(
  cmd: string,
  args: string[],
  options: { logPath: string; cwd?: string; env?: Record<string, string> },
): Daemon {
  // `exec` keeps the pid: the shell becomes the program, with its output in the file.
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", options.logPath, cmd, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
  const exited = child.status.then((s) => s.code);
  let done = false;
  exited.then(() => done = true);
  return {
    pid: child.pid,
    logPath: options.logPath,
    exited,
    async stop(graceMs = 10_000) {
      if (done) return;
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Reads the last `lines` lines of a log file, for error messages. */
export function tail(path: string, lines = 20): string {
  try {
    return Deno.readTextFileSync(path).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Waits until `check` returns true, polling every `intervalMs`; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const { timeoutMs = 30_000, intervalMs = 50 } = options;
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Kills processes by pid with SIGKILL, ignoring those already gone. */
export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** Unmounts every mount point at or below `dir` (deepest first), lazily when busy. */
export async function unmountUnder(dir: string): Promise<void> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points = info.split("\n")
    .map((l) => l.split(" ")[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(dir + "/")))
    .map((p) => p.replace(/\\040/g, " "))
    .sort((a, b) => b.length - a.length);
  for (const p of points) {
    await denoRunner.run("umount", [p], { check: false }).then(async (r) => {
      if (r.code !== 0) await denoRunner.run("umount", ["-l", p], { check: false });
    });
  }
}

/** Deletes a network link if it exists (a bench bridge). */
export async function deleteLink(name: string): Promise<void> {
  await denoRunner.run("ip", ["link", "del", name], { check: false });
}

/** Finds a free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Removes a directory tree after unmounting what is mounted below it. */
export async function removeTree(dir: string): Promise<void> {
  await unmountUnder(dir);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
