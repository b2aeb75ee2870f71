import assert from "node:assert/strict";
import { mountShm, unmount } from "../../src/mounts.ts";
import type { Runner } from "../../src/process.ts";
import { MS_NODEV, MS_NOEXEC, MS_NOSUID } from "../../src/sys/mounter.ts";
import { FakeMounter } from "./sys/_fake_mounter.ts";

const noRunner: Runner = {
  run: () => Promise.reject(new Error("no program may run")),
};

Deno.test("mountShm() creates the dir and mounts a nosuid,nodev,noexec tmpfs", async () => {
  const base = await Deno.makeTempDir({ prefix: "ocid-mounts-unit-" });
  try {
    const mounter = new FakeMounter();
    await mountShm(noRunner, `${base}/shm`, { mounter, sizeBytes: 1024 });
    assert.ok((await Deno.stat(`${base}/shm`)).isDirectory);
    assert.deepEqual(mounter.calls, [{
      op: "mount",
      source: "shm",
      target: `${base}/shm`,
      fstype: "tmpfs",
      flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
      data: "mode=1777,size=1024",
    }]);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("unmount() does nothing when the path is not a mount point", async () => {
  const mounter = new FakeMounter();
  await unmount(noRunner, `/nonexistent-ocid-${crypto.randomUUID()}`, { mounter });
  assert.deepEqual(mounter.calls, []);
});
