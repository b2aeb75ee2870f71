/**
 * Mount helpers through the process seam: tmpfs for /dev/shm, bind mounts, unmounting, and a
 * reader of /proc/self/mountinfo to see what is mounted.
 *
 * @module
 */
import type { Runner } from "./process.ts";

/** Mount points below `prefix` (or all), from /proc/self/mountinfo, deepest first. */
export async function mountPoints(prefix = "/"): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const points: string[] = [];
  for (const line of info.split("\n")) {
    const field = line.split(" ")[4];
    if (!field) continue;
    // mountinfo escapes space, tab, newline and backslash as octal.
    const point = field.replace(
      /\\([0-7]{3})/g,
      (_, o: string) => String.fromCharCode(parseInt(o, 8)),
    );
    if (point === prefix || point.startsWith(prefix.endsWith("/") ? prefix : prefix + "/")) {
      points.push(point);
    }
  }
  return points.sort((a, b) => b.length - a.length);
}

/** Whether `path` is a mount point. */
export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountPoints(path)).includes(path);
}

/** Mounts a tmpfs for a pod's /dev/shm at `path` (created if missing). */
export async function mountShm(
  runner: Runner,
  path: string,
  sizeBytes = 64 * 1024 * 1024,
): Promise<void> {
  await Deno.mkdir(path, { recursive: true });
  await runner.run("mount", [
    "-t",
    "tmpfs",
    "-o",
    `mode=1777,size=${sizeBytes},nosuid,nodev,noexec`,
    "shm",
    path,
  ]);
}

/** Unmounts `path` (lazily) if it is a mount point; a no-op otherwise. */
export async function unmount(runner: Runner, path: string): Promise<void> {
  if (!(await isMountPoint(path))) return;
  await runner.run("umount", ["-l", path]);
}
