/**
 * ImageFsInfo: bytes and inodes of the image store (`image_filesystems`) and of the containers'
 * writable layers (`container_filesystems`, summed into one entry).
 *
 * kubelet 1.29 (`realContainerGC.IsContainerFsSeparateFromImageFs`) calls the two split when
 * the first entries' `fs_id.mountpoint` strings differ; its eviction manager then refuses to
 * start unless the KubeletSeparateDiskGC feature gate is on ("KubeletSeparateDiskGC is turned
 * off but we still have a split filesystem"). So both entries name the same mountpoint when the
 * image store and `<root>/containers` live on one filesystem (same device), and differ only
 * when they truly do. kubelet reads capacity and free space of each mountpoint from cAdvisor
 * (`GetDirFsInfo`), which fails on a missing directory: every mountpoint reported exists.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";

/** Reads the device a path lives on. */
export type StatDevice = (path: string) => Promise<number>;

const statDevice: StatDevice = async (path) => (await Deno.stat(path)).dev;

/**
 * The `fs_id.mountpoint`s of the image and container filesystems: the image store for both when
 * they share a device, else each its own directory.
 *
 * @param imageDir The image store.
 * @param containersDir Where the writable layers live.
 * @param stat Reads a path's device. @default Deno.stat
 */
export async function filesystemIds(
  imageDir: string,
  containersDir: string,
  stat: StatDevice = statDevice,
): Promise<{ image: string; containers: string }> {
  const [imageDev, containersDev] = await Promise.all([stat(imageDir), stat(containersDir)]);
  return { image: imageDir, containers: imageDev === containersDev ? imageDir : containersDir };
}

/** Answers ImageFsInfo. */
export async function imageFsInfo(
  deps: Pick<Deps, "images" | "config">,
  _req: cri.ImageFsInfoRequest,
): Promise<cri.ImageFsInfoResponseInit> {
  const info = await deps.images.fsInfo();
  const layers = await deps.images.writableLayerUsage();
  const nanos = (ms: number) => (BigInt(ms) * 1_000_000n).toString();
  const containersDir = `${deps.config.root}/containers`;
  await Deno.mkdir(containersDir, { recursive: true, mode: 0o700 });
  const ids = await filesystemIds(info.mountpoint, containersDir);
  // The containers dir itself counts, so the figures are never zero.
  const dir = await Deno.lstat(containersDir);
  return {
    image_filesystems: [{
      timestamp: nanos(info.timestamp),
      fs_id: { mountpoint: ids.image },
      used_bytes: { value: info.usedBytes },
      inodes_used: { value: info.inodesUsed },
    }],
    container_filesystems: [{
      timestamp: nanos(Date.now()),
      fs_id: { mountpoint: ids.containers },
      used_bytes: { value: layers.reduce((n, l) => n + l.usedBytes, (dir.blocks ?? 0) * 512) },
      inodes_used: { value: layers.reduce((n, l) => n + l.inodesUsed, 1) },
    }],
  };
}
