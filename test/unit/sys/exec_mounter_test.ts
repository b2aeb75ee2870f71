import assert from "node:assert/strict";
import { CommandError } from "../../../src/errors.ts";
import type { Runner, RunOptions } from "../../../src/process.ts";
import { ExecMounter, mountArgs } from "../../../src/sys/exec_mounter.ts";
import { MountError } from "../../../src/sys/mount_error.ts";
import {
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
} from "../../../src/sys/mounter.ts";

Deno.test("mountArgs() translates mount(2) calls to mount(8) arguments", () => {
  assert.deepEqual(
    mountArgs("/p/shm", {
      source: "shm",
      fstype: "tmpfs",
      flags: MS_NOSUID | MS_NODEV | MS_NOEXEC,
      data: "mode=1777,size=1",
    }),
    ["-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=1777,size=1", "shm", "/p/shm"],
  );
  assert.deepEqual(
    mountArgs("/m", {
      source: "overlay",
      fstype: "overlay",
      flags: MS_RDONLY,
      data: "lowerdir=/a",
    }),
    ["-t", "overlay", "-o", "ro,lowerdir=/a", "overlay", "/m"],
  );
  assert.deepEqual(mountArgs("/d", { source: "/d", fstype: "", flags: MS_BIND, data: "" }), [
    "--bind",
    "/d",
    "/d",
  ]);
  assert.deepEqual(
    mountArgs("/d", { source: "/s", fstype: "", flags: MS_BIND | MS_REC, data: "" }),
    ["--rbind", "/s", "/d"],
  );
  assert.deepEqual(mountArgs("/d", { source: "", fstype: "", flags: MS_PRIVATE, data: "" }), [
    "--make-private",
    "/d",
  ]);
});

/** A runner that records calls and fails `mount` with a stderr. */
function recordingRunner() {
  const calls: string[][] = [];
  const runner: Runner = {
    run(cmd: string, args: string[], _options?: RunOptions) {
      calls.push([cmd, ...args]);
      if (cmd === "mount") {
        return Promise.reject(new CommandError(`${cmd} ${args.join(" ")}`, 32, "mount: denied"));
      }
      return Promise.resolve({ code: 0, stdout: new Uint8Array(), stderr: new Uint8Array() });
    },
  };
  return { runner, calls };
}

Deno.test("ExecMounter runs umount, lazily on request", async () => {
  const { runner, calls } = recordingRunner();
  const m = new ExecMounter(runner, { umount: "/sbin/umount" });
  await m.unmount("/a");
  await m.unmount("/b", { detach: true });
  assert.deepEqual(calls, [["/sbin/umount", "/a"], ["/sbin/umount", "-l", "/b"]]);
});

Deno.test("ExecMounter turns a failed mount into a MountError naming the path", async () => {
  const { runner } = recordingRunner();
  const err = await new ExecMounter(runner).mount("shm", "/p/shm", "tmpfs", 0, "size=1").then(
    () => assert.fail("must fail"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof MountError);
  assert.equal(err.message, 'Cannot mount tmpfs on "/p/shm": mount: denied');
  assert.ok(err.cause instanceof CommandError);
});
