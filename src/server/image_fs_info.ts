/**
 * ImageFsInfo: bytes and inodes of the image store, and of the containers' writable layers
 * (summed into one filesystem entry, `<root>/containers`). Every mountpoint reported exists: the
 * kubelet asks cAdvisor about the directory (GetDirFsInfo) and fails on a missing one, and
 * `<root>/containers` is otherwise made only by the first CreateContainer.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";

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
  return {
    image_filesystems: [{
      timestamp: nanos(info.timestamp),
      fs_id: { mountpoint: info.mountpoint },
      used_bytes: { value: info.usedBytes },
      inodes_used: { value: info.inodesUsed },
    }],
    container_filesystems: [{
      timestamp: nanos(Date.now()),
      fs_id: { mountpoint: containersDir },
      used_bytes: { value: layers.reduce((n, l) => n + l.usedBytes, 0) },
      inodes_used: { value: layers.reduce((n, l) => n + l.inodesUsed, 0) },
    }],
  };
}
