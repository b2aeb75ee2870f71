import assert from "node:assert/strict";
import { join } from "node:path";
import { defaultConfig } from "../../../src/config/mod.ts";
import { filesystemIds, imageFsInfo } from "../../../src/server/image_fs_info.ts";
import type { Deps } from "../../../src/server/deps.ts";
import type * as cri from "../../../src/cri/types.ts";

/** kubelet 1.29's realContainerGC.IsContainerFsSeparateFromImageFs, on a decoded answer. */
function kubeletSeesSplit(r: cri.ImageFsInfoResponseInit): boolean {
  const image = r.image_filesystems?.[0];
  const container = r.container_filesystems?.[0];
  if (!image || !container || !image.fs_id || !container.fs_id) return false;
  return image.fs_id.mountpoint !== container.fs_id.mountpoint;
}

Deno.test("filesystemIds() names the image store for both on one device, each its own on two", async () => {
  const sameDevice = () => Promise.resolve(42);
  assert.deepEqual(await filesystemIds("/r/images", "/r/containers", sameDevice), {
    image: "/r/images",
    containers: "/r/images",
  });
  const twoDevices = (p: string) => Promise.resolve(p.endsWith("images") ? 1 : 2);
  assert.deepEqual(await filesystemIds("/r/images", "/mnt/fast/containers", twoDevices), {
    image: "/r/images",
    containers: "/mnt/fast/containers",
  });
});

Deno.test("imageFsInfo() on one filesystem: kubelet sees no split, figures are not zero", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-unit-fsinfo-" });
  try {
    const config = defaultConfig({
      host: { systemdIsInit: () => false, hasCapSysResource: () => false },
    });
    config.root = dir;
    const images = join(dir, "images");
    await Deno.mkdir(images);
    const deps = {
      config,
      images: {
        fsInfo: () =>
          Promise.resolve({ mountpoint: images, usedBytes: 4096, inodesUsed: 1, timestamp: 1 }),
        // No container yet: no writable layer.
        writableLayerUsage: () => Promise.resolve([]),
      } as unknown as Deps["images"],
    };
    const r = await imageFsInfo(deps, {});
    assert.equal(kubeletSeesSplit(r), false, JSON.stringify(r));
    assert.equal(r.container_filesystems![0]!.fs_id!.mountpoint, images);
    for (const fs of [...r.image_filesystems!, ...r.container_filesystems!]) {
      assert.ok(Number(fs.used_bytes!.value) > 0, `used_bytes of ${JSON.stringify(fs)}`);
      assert.ok(Number(fs.inodes_used!.value) > 0, `inodes_used of ${JSON.stringify(fs)}`);
      assert.ok(BigInt(fs.timestamp!) > 0n);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
