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
import { MountError } from "./sys/mount_error.ts";
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
  await unmountIfMounted(options.mounter ?? defaultMounter(runner), path, { detach: true });
}

/** Options of {@linkcode unmountIfMounted}. */
export interface UnmountIfMountedOptions {
  /** Lazy unmount (`MNT_DETACH`). @default false */
  detach?: boolean;
  /** Take off every mount stacked on `path`, not only the topmost. @default false */
  all?: boolean;
  /**
   * Asks the mount table whether `path` is a mount point, for a mounter that cannot tell
   * "not mounted" by itself (`exec`). @default isMountPoint
   */
  isMountPoint?: (path: string) => Promise<boolean>;
}

/** The most mounts stacked on one path that {@linkcode unmountIfMounted} takes off. */
const MAX_STACKED_MOUNTS = 8;

/**
 * Unmounts `path` when something is mounted on it; a no-op otherwise, for a missing path too.
 * The libc mounter asks `umount2` straight away and takes its EINVAL (not a mount point) and
 * ENOENT for "nothing to do", so /proc/self/mountinfo, which grows with every pod on the node,
 * is not read. The programs' mounter (`exec`) reports no errno: it asks the mount table first.
 *
 * @param mounter Does the unmount.
 * @param path The mount point.
 * @param options Lazy or not, all stacked mounts or the topmost, the mount-table probe.
 * @throws {MountError} When an unmount fails for another reason (EBUSY, EPERM, ...).
 */
export async function unmountIfMounted(
  mounter: Mounter,
  path: string,
  options: UnmountIfMountedOptions = {},
): Promise<void> {
  const { detach = false, all = false, isMountPoint: probe = isMountPoint } = options;
  for (let i = 0; i < (all ? MAX_STACKED_MOUNTS : 1); i++) {
    if (mounter.kind === "exec") {
      if (!(await probe(path))) return;
      await mounter.unmount(path, { detach });
      continue;
    }
    try {
      await mounter.unmount(path, { detach });
    } catch (err) {
      if (err instanceof MountError && (err.errno === "EINVAL" || err.errno === "ENOENT")) return;
      throw err;
    }
  }
}
