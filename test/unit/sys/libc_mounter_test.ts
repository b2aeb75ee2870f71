import assert from "node:assert/strict";
import type { Libc } from "../../../src/sys/libc.ts";
import { openLibc } from "../../../src/sys/libc.ts";
import { LibcMounter } from "../../../src/sys/libc_mounter.ts";
import { MountError } from "../../../src/sys/mount_error.ts";
import {
  MAX_MOUNT_DATA_BYTES,
  MNT_DETACH,
  MS_BIND,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
} from "../../../src/sys/mounter.ts";

/** A Libc that records calls and answers with one errno. */
function fakeLibc(errno: number) {
  const calls: unknown[][] = [];
  const libc: Libc = {
    mount: (...args) => (calls.push(["mount", ...args]), errno),
    umount2: (...args) => (calls.push(["umount2", ...args]), Promise.resolve(errno)),
    strerror: (n) => `text of ${n}`,
  };
  return { libc, calls };
}

Deno.test("LibcMounter passes the call through to mount(2) and umount2(2)", async () => {
  const { libc, calls } = fakeLibc(0);
  const m = new LibcMounter(libc);
  await m.mount("overlay", "/r/merged", "overlay", MS_RDONLY, "lowerdir=/a,upperdir=/u");
  await m.mount("/n", "/n", "", MS_BIND);
  await m.unmount("/r/merged");
  await m.unmount("/n/x", { detach: true });
  assert.deepEqual(calls, [
    ["mount", "overlay", "/r/merged", "overlay", MS_RDONLY, "lowerdir=/a,upperdir=/u"],
    ["mount", "/n", "/n", "", MS_BIND, ""],
    ["umount2", "/r/merged", 0],
    ["umount2", "/n/x", MNT_DETACH],
  ]);
});

Deno.test("LibcMounter maps errno to an error naming the path and the mount type", async (t) => {
  const cases: [number, string, RegExp][] = [
    [16, "EBUSY", /Cannot mount tmpfs on "\/p\/shm": "\/p\/shm" is busy .*\(EBUSY: text of 16\)/],
    [2, "ENOENT", /Cannot mount tmpfs on "\/p\/shm": "\/p\/shm", .* does not exist/],
    [22, "EINVAL", /Cannot mount tmpfs on "\/p\/shm": the kernel refused the flags or options/],
    [1, "EPERM", /Cannot mount tmpfs on "\/p\/shm": permission denied: .*CAP_SYS_ADMIN/],
    [99, "errno 99", /Cannot mount tmpfs on "\/p\/shm": errno 99: text of 99/],
  ];
  for (const [errno, name, message] of cases) {
    await t.step(`mount: ${name}`, async () => {
      const m = new LibcMounter(fakeLibc(errno).libc);
      const err = await m.mount("shm", "/p/shm", "tmpfs", MS_NOSUID, "size=1").then(
        () => assert.fail("the mount must fail"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof MountError);
      assert.equal(err.errno, name);
      assert.equal(err.path, "/p/shm");
      assert.equal(err.type, "tmpfs");
      assert.match(err.message, message);
    });
  }
  await t.step("bind and propagation mounts are named so", async () => {
    const m = new LibcMounter(fakeLibc(22).libc);
    await assert.rejects(m.mount("/d", "/d", "", MS_BIND), /Cannot mount bind on "\/d"/);
    await assert.rejects(m.mount("", "/d", "", MS_PRIVATE), /Cannot mount private on "\/d"/);
  });
  await t.step("unmount: EINVAL is not a mount point, EBUSY is busy", async () => {
    await assert.rejects(
      new LibcMounter(fakeLibc(22).libc).unmount("/p/merged"),
      /Cannot unmount "\/p\/merged": "\/p\/merged" is not a mount point \(EINVAL/,
    );
    await assert.rejects(
      new LibcMounter(fakeLibc(16).libc).unmount("/p/merged"),
      /Cannot unmount "\/p\/merged": "\/p\/merged" is busy/,
    );
  });
});

Deno.test("LibcMounter refuses options longer than a page before calling the kernel", async () => {
  const { libc, calls } = fakeLibc(0);
  const data = "lowerdir=" + "/x".repeat(MAX_MOUNT_DATA_BYTES);
  await assert.rejects(
    new LibcMounter(libc).mount("overlay", "/m", "overlay", 0, data),
    /Cannot mount overlay on "\/m": the options are \d+ bytes; the kernel takes at most 4095/,
  );
  assert.equal(calls.length, 0);
});

Deno.test("openLibc() reads errno after a failed umount2(2) and names the path", async () => {
  // No root needed: the path lookup fails before any permission check.
  const missing = `/nonexistent-ocid-${crypto.randomUUID()}`;
  const m = new LibcMounter(openLibc());
  const err = await m.unmount(missing).then(() => assert.fail("must fail"), (e: unknown) => e);
  assert.ok(err instanceof MountError);
  assert.equal(err.errno, "ENOENT");
  assert.match(err.message, new RegExp(`Cannot unmount "${missing}": .*No such file or directory`));
});

Deno.test("openLibc().umount2 runs off the JS thread and still reports the call's errno", async () => {
  // An overlay unmount takes the kernel milliseconds; on the JS thread it held up every request.
  const libc = openLibc();
  const missing = `/nonexistent-ocid-${crypto.randomUUID()}`;
  const answer = libc.umount2(missing, 0);
  assert.ok(answer instanceof Promise, "umount2 must answer with a promise, not block");
  // The errno is the failed call's (ENOENT), not whatever the JS thread's errno holds.
  assert.equal(await answer, 2);
  assert.equal(await libc.umount2(missing, MNT_DETACH), 2);
});

Deno.test({
  name: "openLibc().umount2 takes a real mount off (0), then finds no mount point (EINVAL)",
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "ocid-umount2-" });
    try {
      const libc = openLibc();
      assert.equal(libc.mount("tmpfs", dir, "tmpfs", 0, "size=64k"), 0);
      await Deno.writeTextFile(`${dir}/on-tmpfs`, "x");
      assert.equal(await libc.umount2(dir, 0), 0);
      await assert.rejects(Deno.stat(`${dir}/on-tmpfs`), Deno.errors.NotFound);
      assert.equal(await libc.umount2(dir, 0), 22);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("openLibc() refuses a path with a NUL byte", () => {
  const libc = openLibc();
  assert.throws(() => libc.umount2("/a\0b", 0), TypeError);
});
