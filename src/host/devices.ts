/**
 * The host's device nodes, which a privileged container gets (CRI: "all host devices"), and
 * those a CRI `Device` names (a node, or a directory of them). The walk skips what containerd, CRI-O and runc skip: the `pts`, `shm`, `fd`, `mqueue`, `.lxc`,
 * `.lxd-mounts` and `.udev` directories, `console`, symlinks, and anything that is not a
 * character or block device with a non-zero major number.
 *
 * @module
 */
import { join } from "node:path";

/**
 * Whether `access` is a device-cgroup access string: one to three of the letters `r`, `w`,
 * `m`, each once (CRI `Device.permissions`, CDI `deviceNodes[].permissions`).
 */
export function isDeviceAccess(access: string): boolean {
  return /^[rwm]{1,3}$/.test(access) && new Set(access).size === access.length;
}

/** A host device node, in the shape `linux.devices` wants. */
export interface HostDevice {
  /** The path inside the container: `/dev/` and the node's path under the walked directory. */
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  /** Permission bits. */
  fileMode: number;
  uid: number;
  gid: number;
}

/** Lists the host's devices; tests pass a fake. */
export type HostDeviceLister = () => HostDevice[];

const SKIP_DIRS = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);

/**
 * Splits a `st_rdev` into major and minor numbers as glibc's `gnu_dev_major`/`gnu_dev_minor`.
 *
 * @param rdev The device number (a double: exact up to 2^53).
 * @returns Its major and minor numbers.
 */
export function decodeRdev(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const major = ((rdev >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00) | ((high & 0xfff) << 20);
  return { major: major >>> 0, minor: minor >>> 0 };
}

/**
 * Walks a device directory (`/dev` by default) without following symlinks.
 *
 * @param root The directory to walk.
 * @param containerDir Where `root` is in the container. @default "/dev"
 * @returns Device nodes in directory order; entries that vanish while walking are left out.
 * @throws {Error} When `root` cannot be read.
 */
export function listHostDevices(root = "/dev", containerDir = "/dev"): HostDevice[] {
  const out: HostDevice[] = [];
  walk(root, containerDir, out, true);
  return out;
}

/** The device nodes a CRI `Device` names; tests pass a fake. */
export type DeviceResolver = (hostPath: string, containerPath: string) => HostDevice[];

/**
 * The device nodes a CRI `Device` names, as containerd's CRI plugin and CRI-O read it: the node
 * at `hostPath` (symlinks followed) at `containerPath`, or, when `hostPath` is a directory (a
 * device plugin may name `/dev/snd`), every node under it at the same place under
 * `containerPath`, walked as {@linkcode listHostDevices} walks.
 *
 * @throws {Error} When `hostPath` is missing, or neither a directory nor a device node.
 */
export function devicesAt(hostPath: string, containerPath: string): HostDevice[] {
  const st = Deno.statSync(hostPath);
  if (st.isDirectory) return listHostDevices(hostPath, containerPath);
  const device = deviceOf(st, containerPath);
  if (!device) throw new Error("not a device node");
  return [device];
}

/**
 * The device node `st` describes, at `path` in the container; undefined when it is not a
 * character or block device with a non-zero major number (what containerd and runc skip).
 */
function deviceOf(st: Deno.FileInfo, path: string): HostDevice | undefined {
  const type = st.isCharDevice ? "c" : st.isBlockDevice ? "b" : undefined;
  if (type === undefined || st.rdev === null) return undefined;
  const { major, minor } = decodeRdev(st.rdev);
  if (major === 0) return undefined;
  const fileMode = (st.mode ?? 0o600) & 0o777;
  return { path, type, major, minor, fileMode, uid: st.uid ?? 0, gid: st.gid ?? 0 };
}

function walk(dir: string, containerDir: string, out: HostDevice[], top: boolean): void {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch (error) {
    if (!top && error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isSymlink) continue;
    if (entry.isDirectory) {
      if (!SKIP_DIRS.has(entry.name)) walk(path, join(containerDir, entry.name), out, false);
      continue;
    }
    if (entry.name === "console") continue;
    let st: Deno.FileInfo;
    try {
      st = Deno.lstatSync(path);
    } catch {
      continue; // gone since readdir
    }
    const device = deviceOf(st, join(containerDir, entry.name));
    if (device) out.push(device);
  }
}
