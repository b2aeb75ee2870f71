import assert from "node:assert/strict";
import { mountShm, unmount, unmountIfMounted } from "../../src/mounts.ts";
import type { Runner } from "../../src/process.ts";
import { MountError } from "../../src/sys/mount_error.ts";
import { type Mounter, MS_NODEV, MS_NOEXEC, MS_NOSUID } from "../../src/sys/mounter.ts";
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
  const path = `/nonexistent-ocid-${crypto.randomUUID()}`;
  await unmount(noRunner, path, { mounter });
  // umount2 itself says so (EINVAL), and that is no error.
  assert.deepEqual(mounter.calls, [{ op: "unmount", target: path, detach: true }]);
  assert.deepEqual(mounter.mounts, []);
});

Deno.test("unmountIfMounted() with libc asks umount2, never the mount table", async () => {
  const mounter = new FakeMounter();
  await mounter.mount("a", "/p", "tmpfs", 0);
  await mounter.mount("b", "/p", "tmpfs", 0);
  await mounter.mount("c", "/q", "tmpfs", 0);
  const probe = () => Promise.reject(new Error("the mount table must not be read"));
  await unmountIfMounted(mounter, "/p", { isMountPoint: probe });
  assert.deepEqual(mounter.mounts, ["/p", "/q"], "only the topmost without `all`");
  await mounter.mount("b", "/p", "tmpfs", 0);
  await unmountIfMounted(mounter, "/p", { all: true, detach: true, isMountPoint: probe });
  assert.deepEqual(mounter.mounts, ["/q"], "every stacked mount with `all`");
  assert.deepEqual(mounter.calls.filter((c) => c.op === "unmount").map((c) => c.target), [
    "/p",
    "/p",
    "/p",
    "/p",
  ]);
});

Deno.test("unmountIfMounted() takes ENOENT for nothing to do and throws other errors", async () => {
  const gone = new FakeMounter(() => "ENOENT");
  await unmountIfMounted(gone, "/gone", { all: true });
  assert.equal(gone.calls.length, 1);
  const busy = new FakeMounter((call) => call.op === "unmount" ? "EBUSY" : undefined);
  await busy.mount("a", "/p", "tmpfs", 0);
  await assert.rejects(
    unmountIfMounted(busy, "/p"),
    (e) => e instanceof MountError && e.errno === "EBUSY",
  );
});

Deno.test("unmountIfMounted() with the programs asks the mount table first", async () => {
  const calls: string[] = [];
  let mounted = 2;
  const mounter: Mounter = {
    kind: "exec",
    mount: () => Promise.reject(new Error("no mount here")),
    unmount: (target) => {
      calls.push(target);
      mounted--;
      return Promise.resolve();
    },
  };
  const probe = (path: string) => Promise.resolve(path === "/p" && mounted > 0);
  await unmountIfMounted(mounter, "/p", { all: true, isMountPoint: probe });
  assert.deepEqual(calls, ["/p", "/p"]);
  await unmountIfMounted(mounter, "/p", { all: true, isMountPoint: probe });
  await unmountIfMounted(mounter, "/other", { isMountPoint: probe });
  assert.deepEqual(calls, ["/p", "/p"], "no umount where the table shows no mount");
});
