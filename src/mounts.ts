/**
 * Mount helpers: tmpfs for /dev/shm, unmounting, and a reader of /proc/self/mountinfo to see
 * what is mounted. Mounts go through the process's {@linkcode Mounter} (libc syscalls by
 * default, the `mount`/`umount` programs through the runner as the fallback).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { unescapeMountinfo } from "./host/mountinfo.ts";
import type { Runner } from "./process.ts";
import { defaultMounter } from "./sys/default_mounter.ts";
import { type Mounter, MS_NODEV, MS_NOEXEC, MS_NOSUID } from "./sys/mounter.ts";

/**
 * Mount points below `prefix` (or all), from /proc/self/mountinfo, deepest first. Symlinks in
 * `prefix` are resolved first (mountinfo shows real paths): the points are real paths.
 */
export async function mountPoints(prefix = "/"): Promise<string[]> {
  const real = await realPath(prefix);
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points: string[] = [];
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    const point = unescapeMountinfo(field);
    if (point === real || point.startsWith(real.endsWith("/") ? real : real + "/")) {
      points.push(point);
    }
  }
  return points.sort((a, b) => b.length - a.length);
}

/** Whether `path` is a mount point (symlinks in its dir resolved). */
export async function isMountPoint(path: string): Promise<boolean> {
  const real = join(await realPath(dirname(path)), basename(path));
  return (await mountPoints(real)).includes(real);
}

/** `path` with symlinks resolved; as given when it does not exist. */
async function realPath(path: string): Promise<string> {
  return await Deno.realPath(path).catch(() => path);
}

/** Options of {@linkcode mountShm}. */
export interface MountShmOptions {
  /** Size of the tmpfs. @default 67108864 (64 MiB) */
  sizeBytes?: number;
  /** Does the mount. @default defaultMounter(runner) */
  mounter?: Mounter;
}

/**
 * Mounts a tmpfs for a pod's /dev/shm at `path` (created if missing): mode 1777, nosuid,
 * nodev, noexec.
 *
 * @param runner Runs `mount` when the process uses the program fallback.
 * @param path The mount point.
 * @throws {MountError} Naming the path and the cause.
 */
export async function mountShm(
  runner: Runner,
  path: string,
  options: MountShmOptions = {},
): Promise<void> {
  const { sizeBytes = 64 * 1024 * 1024, mounter = defaultMounter(runner) } = options;
  await Deno.mkdir(path, { recursive: true });
  await mounter.mount(
    "shm",
    path,
    "tmpfs",
    MS_NOSUID | MS_NODEV | MS_NOEXEC,
    `mode=1777,size=${sizeBytes}`,
  );
}

/**
 * Unmounts `path` (lazily) if it is a mount point; a no-op otherwise.
 *
 * @param runner Runs `umount` when the process uses the program fallback.
 * @param path The mount point.
 * @param options `mounter` does the unmount. @default defaultMounter(runner)
 */
export async function unmount(
  runner: Runner,
  path: string,
  options: { mounter?: Mounter } = {},
): Promise<void> {
  if (!(await isMountPoint(path))) return;
  await (options.mounter ?? defaultMounter(runner)).unmount(path, { detach: true });
}
