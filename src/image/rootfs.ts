/**
 * Container root filesystems over image layers, under `<root>/containers/<id>/`:
 * overlay (`lowerdir` = layer diffs top first, `upper/` and `work/` beside `merged/`) or,
 * with the vfs driver, a full copy of the layers in `merged/` with whiteouts applied.
 *
 * @module
 */
import { posix } from "node:path";
import { lchown } from "node:fs/promises";
import { unescapeMountinfo } from "../host/mountinfo.ts";
import { ignoreNotFound } from "../errors.ts";
import { exists } from "../exists.ts";
import { unmountIfMounted } from "../mounts.ts";
import type { Runner } from "../process.ts";
import { defaultMounter } from "../sys/default_mounter.ts";
import { type Mounter, MS_RDONLY } from "../sys/mounter.ts";
import type { LayerRecord } from "./layer_store.ts";

/** A layer as the rootfs builder needs it: its diff dir and whiteout lists. */
export interface RootfsLayer {
  diffDir: string;
  record: LayerRecord;
}

/** Options of {@linkcode RootfsManager}. */
export interface RootfsManagerOptions {
  /** `<root>/containers`. */
  dir: string;
  driver: "overlay" | "vfs";
  runner: Runner;
  /** Mounts and unmounts the overlay. @default defaultMounter(runner) */
  mounter?: Mounter;
}

/** Writable-layer usage of one container. */
export interface WritableLayerUsage {
  containerId: string;
  /** The directory measured (overlay upper dir or vfs rootfs). */
  path: string;
  usedBytes: number;
  inodesUsed: number;
}

/** Whether `path` is a mount point (from /proc/self/mountinfo). */
export async function isMountPoint(path: string): Promise<boolean> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").some((line) => unescapeMountinfo(line.split(" ")[4] ?? "") === path);
}

/**
 * Counts bytes (allocated blocks) and inodes below `path`; hardlinked files count once.
 */
export async function diskUsage(path: string): Promise<{ bytes: number; inodes: number }> {
  const seen = new Set<number>();
  let bytes = 0;
  let inodes = 0;
  const visit = async (p: string) => {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(p);
    } catch {
      return;
    }
    const ino = info.ino ?? -1;
    if (ino >= 0 && seen.has(ino)) return;
    if (ino >= 0) seen.add(ino);
    inodes++;
    bytes += (info.blocks ?? 0) * 512;
    if (info.isDirectory) {
      for await (const e of Deno.readDir(p)) await visit(`${p}/${e.name}`);
    }
  };
  await visit(path);
  return { bytes, inodes };
}

/** Makes `path` (mode 0755, and its parents); false when it existed. */
async function makeDir(path: string): Promise<boolean> {
  const make = async () => {
    try {
      await Deno.mkdir(path, { mode: 0o755 });
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.AlreadyExists) return false;
      throw err;
    }
  };
  try {
    return await make();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(posix.dirname(path), { recursive: true, mode: 0o755 });
  return await make();
}

/** Creates, unmounts and removes container root filesystems. */
export class RootfsManager {
  #opts: RootfsManagerOptions;
  #mounter: Mounter;

  constructor(options: RootfsManagerOptions) {
    this.#opts = options;
    this.#mounter = options.mounter ?? defaultMounter(options.runner);
  }

  /** `<root>/containers/<id>`. */
  containerDir(containerId: string): string {
    if (!/^[\w.-]+$/.test(containerId) || containerId.startsWith(".")) {
      throw new TypeError(`Invalid container id "${containerId}"`);
    }
    return `${this.#opts.dir}/${containerId}`;
  }

  /**
   * Mounts (overlay) or copies (vfs) the rootfs; idempotent when already mounted.
   *
   * @param containerId The container.
   * @param layers The image layers, bottom first.
   * @param options `readonly` mounts the overlay read-only.
   * @returns The rootfs path (`.../merged`).
   */
  async mount(
    containerId: string,
    layers: readonly RootfsLayer[],
    options: { readonly?: boolean } = {},
  ): Promise<string> {
    const dir = this.containerDir(containerId);
    const merged = `${dir}/merged`;
    // A dir made just now is no mount point: only an existing one needs the mount table.
    const made = await makeDir(merged);
    if (this.#opts.driver === "vfs") {
      await this.#copyOnce(layers, merged, `${dir}/vfs.done`);
      return merged;
    }
    if (!made && await isMountPoint(merged)) return merged;
    await Promise.all([
      Deno.mkdir(`${dir}/upper`, { recursive: true, mode: 0o755 }),
      Deno.mkdir(`${dir}/work`, { recursive: true, mode: 0o700 }),
    ]);
    const lower = layers.map((l) => l.diffDir).reverse();
    if (lower.length === 0) {
      // An image without layers: an empty lower dir.
      await Deno.mkdir(`${dir}/empty`, { recursive: true });
      lower.push(`${dir}/empty`);
    }
    const data = `lowerdir=${lower.join(":")},upperdir=${dir}/upper,workdir=${dir}/work`;
    await this.#mounter.mount("overlay", merged, "overlay", options.readonly ? MS_RDONLY : 0, data);
    return merged;
  }

  /**
   * Mounts an image read-only for an image volume of the container (CRI `Mount.image`): an
   * overlay of the layers without an upper dir at `<root>/containers/<id>/image-volumes/<n>`
   * (vfs: a copy of them). Idempotent when already mounted; {@linkcode remove} takes it away.
   *
   * @param containerId The container.
   * @param index The mount's place in the container's `mounts` (the dir's name).
   * @param layers The image's layers, bottom first.
   * @returns The volume's root.
   */
  async mountImageVolume(
    containerId: string,
    index: number,
    layers: readonly RootfsLayer[],
  ): Promise<string> {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new TypeError(`Invalid image volume index ${index}`);
    }
    const volumes = `${this.containerDir(containerId)}/${IMAGE_VOLUMES}`;
    const target = `${volumes}/${index}`;
    const made = await makeDir(target);
    if (this.#opts.driver === "vfs") {
      await this.#copyOnce(layers, target, `${target}.done`);
      return target;
    }
    if (layers.length === 0) return target; // An image without layers: the empty dir.
    if (!made && await isMountPoint(target)) return target;
    const lower = layers.map((l) => l.diffDir).reverse();
    // Without an upper dir, overlayfs wants two lower dirs at least: an empty one under a
    // single layer.
    if (lower.length === 1) {
      await Deno.mkdir(`${volumes}/empty`, { recursive: true, mode: 0o755 });
      lower.push(`${volumes}/empty`);
    }
    await this.#mounter.mount(
      "overlay",
      target,
      "overlay",
      MS_RDONLY,
      `lowerdir=${lower.join(":")}`,
    );
    return target;
  }

  /** vfs: copies the layers into `dest` unless `marker` says a copy finished, then writes it. */
  async #copyOnce(layers: readonly RootfsLayer[], dest: string, marker: string): Promise<void> {
    if (await exists(marker)) return;
    for (const layer of layers) await copyLayer(layer, dest, this.#opts.runner);
    await Deno.writeTextFile(marker, "");
  }

  /** Unmounts the overlay; idempotent. */
  async unmount(containerId: string): Promise<void> {
    const merged = `${this.containerDir(containerId)}/merged`;
    if (this.#opts.driver === "vfs") return;
    await unmountIfMounted(this.#mounter, merged, { isMountPoint });
  }

  /**
   * Unmounts and deletes `<root>/containers/<id>/{upper,work,merged}`, its image volumes and the
   * directories of its image's declared volumes; idempotent.
   *
   * @param containerId The container.
   * @param options `unmounted`: the caller has just unmounted it ({@linkcode unmount}), so
   *   /proc/self/mountinfo is not read again.
   */
  async remove(containerId: string, options: { unmounted?: boolean } = {}): Promise<void> {
    const dir = this.containerDir(containerId);
    const merged = `${dir}/merged`;
    if (!options.unmounted) await unmountIfMounted(this.#mounter, merged, { isMountPoint });
    // One listing, then only the parts there are: a removal of each possible part cost a failed
    // call and an error object apiece for those absent (all of them for a pod without a pause
    // rootfs).
    let names: Set<string>;
    try {
      names = new Set((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    // Unmounted: the parts are independent.
    await Promise.all([
      ...ROOTFS_PARTS.filter((name) => names.has(name)).map((name) =>
        Deno.remove(`${dir}/${name}`, { recursive: true }).catch(ignoreNotFound)
      ),
      names.has(IMAGE_VOLUMES) ? this.#removeImageVolumes(`${dir}/${IMAGE_VOLUMES}`) : undefined,
    ]);
    // The container dir itself goes when nothing else (bundle files of others) is in it.
    await Deno.remove(dir).catch(() => {});
  }

  /** Unmounts every image volume in `volumes` (when there is one), then removes the dir. */
  async #removeImageVolumes(volumes: string): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(volumes));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return; // No image volume: one failed readdir.
      throw err;
    }
    for (const e of entries) {
      if (!e.isDirectory || e.name === "empty") continue;
      await unmountIfMounted(this.#mounter, `${volumes}/${e.name}`, { all: true, isMountPoint });
    }
    await Deno.remove(volumes, { recursive: true }).catch(ignoreNotFound);
  }

  /** Usage of every container's writable layer. */
  async usage(): Promise<WritableLayerUsage[]> {
    const out: WritableLayerUsage[] = [];
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.#opts.dir));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return out;
      throw err;
    }
    for (const e of entries) {
      const dir = `${this.#opts.dir}/${e.name}`;
      const path = this.#opts.driver === "vfs" ? `${dir}/merged` : `${dir}/upper`;
      if (!(await exists(path))) continue;
      const { bytes, inodes } = await diskUsage(path);
      out.push({ containerId: e.name, path, usedBytes: bytes, inodesUsed: inodes });
    }
    return out;
  }
}

/** The dir of a container's image volumes, in its container dir. */
const IMAGE_VOLUMES = "image-volumes";

/**
 * `<root>/containers/<id>/volumes/<n>`: the directories of the VOLUMEs an image declares, bound
 * into the container under `image_volumes = "bind"` (`./declared_volumes.ts`); they go with the
 * rootfs.
 */
export const DECLARED_VOLUMES = "volumes";

/** What a container's rootfs is made of in its dir, but its image volumes. */
const ROOTFS_PARTS = ["merged", "upper", "work", "empty", "vfs.done", DECLARED_VOLUMES];

/** Whether every component of `rel` below `root` is a real directory. */
async function realDirs(root: string, rel: string): Promise<boolean> {
  let cur = root;
  for (const part of rel.split("/")) {
    if (part === "" || part === ".") continue;
    cur = `${cur}/${part}`;
    try {
      if (!(await Deno.lstat(cur)).isDirectory) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** vfs: applies one layer's diff onto `dest`, never following a symlink in `dest`. */
async function copyLayer(layer: RootfsLayer, dest: string, runner: Runner): Promise<void> {
  const { record, diffDir } = layer;
  const removeIn = async (rel: string, keepDir: boolean) => {
    if (!(await realDirs(dest, posix.dirname(rel)))) return;
    const p = `${dest}/${rel}`;
    if (keepDir) {
      if (!(await realDirs(dest, rel))) return;
      for await (const e of Deno.readDir(p)) {
        await Deno.remove(`${p}/${e.name}`, { recursive: true });
      }
    } else {
      await Deno.remove(p, { recursive: true }).catch(() => {});
    }
  };
  for (const o of record.opaques) if (o !== "") await removeIn(o, true);
  for (const w of record.whiteouts) await removeIn(w, false);
  const whiteouts = new Set(record.whiteouts);
  const links = new Map<number, string>();
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(rel === "" ? diffDir : `${diffDir}/${rel}`)) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (whiteouts.has(r)) continue;
      const src = `${diffDir}/${r}`;
      const dst = `${dest}/${r}`;
      const info = await Deno.lstat(src);
      let cur: Deno.FileInfo | undefined;
      try {
        cur = await Deno.lstat(dst);
      } catch { /* absent */ }
      if (cur && !(cur.isDirectory && info.isDirectory)) {
        await Deno.remove(dst, { recursive: true });
        cur = undefined;
      }
      if (info.isDirectory) {
        if (!cur) await Deno.mkdir(dst);
        await lchown(dst, info.uid ?? 0, info.gid ?? 0);
        await Deno.chmod(dst, (info.mode ?? 0o755) & 0o7777);
        await walk(r);
        if (info.mtime) await Deno.utime(dst, info.atime ?? info.mtime, info.mtime);
        continue;
      }
      const first = info.ino !== null && (info.nlink ?? 1) > 1 ? links.get(info.ino) : undefined;
      if (first) {
        await Deno.link(first, dst);
      } else if (info.isFile) {
        await Deno.copyFile(src, dst);
        await lchown(dst, info.uid ?? 0, info.gid ?? 0);
        await Deno.chmod(dst, (info.mode ?? 0o644) & 0o7777);
        if (info.mtime) await Deno.utime(dst, info.atime ?? info.mtime, info.mtime);
      } else if (info.isSymlink) {
        await Deno.symlink(await Deno.readLink(src), dst);
        await lchown(dst, info.uid ?? 0, info.gid ?? 0);
      } else {
        // Devices, fifos, sockets: cp copies the node with its owner and mode.
        await runner.run("cp", ["-a", "--no-target-directory", src, dst]);
      }
      if (info.ino !== null && (info.nlink ?? 1) > 1) links.set(info.ino, dst);
    }
  };
  await walk("");
}
