import assert from "node:assert/strict";
import { join } from "node:path";
import { AlreadyExistsError, InvalidArgumentError } from "../../../src/errors.ts";
import { createNetnsManager, mountPoints } from "../../../src/network/netns.ts";
import { MS_BIND, MS_PRIVATE } from "../../../src/sys/mounter.ts";
import { ExecNetnsPinner } from "../../../src/sys/exec_netns_pinner.ts";
import type { NetnsPinner, NetnsPinOptions } from "../../../src/sys/netns_pinner.ts";
import { FakeMounter } from "../sys/_fake_mounter.ts";
import { FakeRunner, result } from "./fake_runner.ts";

/** A fake mount table driven by the fake mounter and the fake runner's unshare calls. */
function fakeMounts(opts: { failUnshare?: boolean; failPrivate?: boolean } = {}) {
  const mounter = new FakeMounter((call) =>
    opts.failPrivate && call.op === "mount" && call.flags & MS_PRIVATE ? "EINVAL" : undefined
  );
  const mounts = mounter.mounts;
  const runner = new FakeRunner((call) => {
    if (call.cmd === "unshare") {
      if (opts.failUnshare) return result(1, "", "unshare: mount failed: Permission denied");
      mounts.push(call.args[0]!.slice("--net=".length));
    }
    return result(0);
  });
  const readMountInfo = () =>
    Promise.resolve(
      mounts.map((m, i) => `${100 + i} 1 0:4 / ${m.replaceAll(" ", "\\040")} rw - nsfs nsfs rw`)
        .join("\n") + "\n",
    );
  const pinner = new ExecNetnsPinner(runner);
  return { mounts, mounter, runner, readMountInfo, pinner };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocid-netns-unit-" }));
  try {
    await fn(join(base, "netns"));
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("NetnsManager.create() makes the dir a private mount once and pins a netns", async () => {
  await withDir(async (dir) => {
    const { mounts, mounter, runner, readMountInfo, pinner } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, mounter, readMountInfo, pinner });
    const a = await mgr.create("a");
    const b = await mgr.create("b");
    assert.equal(a, join(dir, "a"));
    assert.deepEqual(mounter.calls, [
      { op: "mount", source: dir, target: dir, fstype: "", flags: MS_BIND, data: "" },
      { op: "mount", source: "", target: dir, fstype: "", flags: MS_PRIVATE, data: "" },
    ]);
    assert.deepEqual(runner.calls.map((c) => [c.cmd, ...c.args]), [
      ["unshare", `--net=${a}`, "true"],
      ["unshare", `--net=${b}`, "true"],
    ]);
    assert.deepEqual(mounts, [dir, a, b]);
    assert.deepEqual(await mgr.list(), [a, b]);
    // A second manager (daemon restart) sees the dir is already a mount point.
    const again = createNetnsManager({ dir, runner, mounter, readMountInfo, pinner });
    runner.calls.length = 0;
    mounter.calls.length = 0;
    await again.create("c");
    assert.deepEqual(runner.calls.map((c) => c.cmd), ["unshare"]);
    assert.deepEqual(mounter.calls, [], "the dir is not mounted again");
  });
});

Deno.test("NetnsManager.create() refuses a duplicate or a bad name", async () => {
  await withDir(async (dir) => {
    const { mounter, runner, readMountInfo, pinner } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, mounter, readMountInfo, pinner });
    await mgr.create("a");
    await assert.rejects(mgr.create("a"), AlreadyExistsError);
    await assert.rejects(mgr.create("../etc"), InvalidArgumentError);
    await assert.rejects(mgr.create(""), InvalidArgumentError);
  });
});

Deno.test("NetnsManager.create() rolls back the file when unshare fails", async () => {
  await withDir(async (dir) => {
    const { mounter, runner, readMountInfo, pinner } = fakeMounts({ failUnshare: true });
    const mgr = createNetnsManager({ dir, runner, mounter, readMountInfo, pinner });
    await assert.rejects(mgr.create("a"), /Cannot create network namespace ".*\/a"/);
    assert.deepEqual(await mgr.list(), []);
  });
});

Deno.test("NetnsManager.remove() unmounts and unlinks, and is idempotent", async () => {
  await withDir(async (dir) => {
    const { mounts, mounter, runner, readMountInfo, pinner } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, mounter, readMountInfo, pinner });
    const a = await mgr.create("a");
    runner.calls.length = 0;
    mounter.calls.length = 0;
    await mgr.remove(a);
    // umount2 until EINVAL (nothing stacked left): the mount table is not read.
    assert.deepEqual(mounter.calls, [
      { op: "unmount", target: a, detach: true },
      { op: "unmount", target: a, detach: true },
    ]);
    assert.deepEqual(runner.calls, [], "no program runs");
    assert.deepEqual(mounts, [dir]);
    assert.deepEqual(await mgr.list(), []);
    await mgr.remove(a);
    assert.equal(mounter.calls.length, 3, "one EINVAL the second time, no error");
    assert.deepEqual(mounts, [dir]);
  });
});

Deno.test("NetnsManager.remove() refuses paths outside its dir", async () => {
  await withDir(async (dir) => {
    const { mounter, runner, readMountInfo, pinner } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, mounter, readMountInfo, pinner });
    await assert.rejects(mgr.remove("/etc/passwd"), InvalidArgumentError);
    await assert.rejects(mgr.remove(join(dir, "..", "x")), InvalidArgumentError);
    assert.equal(runner.calls.length, 0);
    assert.equal(mounter.calls.length, 0);
  });
});

Deno.test("NetnsManager.create() undoes the dir's bind mount when it cannot be made private", async () => {
  await withDir(async (dir) => {
    const { mounts, mounter, runner, readMountInfo, pinner } = fakeMounts({ failPrivate: true });
    const mgr = createNetnsManager({ dir, runner, mounter, readMountInfo, pinner });
    await assert.rejects(mgr.create("a"), /Cannot make netns dir ".*" private: .*EINVAL/);
    assert.deepEqual(mounts, [], "the bind mount is undone");
    assert.deepEqual(mounter.calls.at(-1), { op: "unmount", target: dir, detach: false });
    assert.equal(runner.calls.length, 0, "no unshare without a private dir");
  });
});

Deno.test("mountPoints() decodes octal escapes", () => {
  const info =
    "36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 - ext3 /dev/root rw\n" +
    "37 35 0:4 / /run/ocid/netns/x rw - nsfs nsfs rw\n";
  assert.deepEqual(mountPoints(info), ["/mnt with space", "/run/ocid/netns/x"]);
});

Deno.test("NetnsManager brings lo up through the pinner only where the pinner can", async () => {
  await withDir(async (dir) => {
    const { mounter, runner, readMountInfo, pinner: exec } = fakeMounts();
    const asked: [string, NetnsPinOptions | undefined][] = [];
    const libc: NetnsPinner = {
      kind: "libc",
      loopback: true,
      pin(target, options) {
        asked.push([target, options]);
        return Promise.resolve();
      },
    };
    const base = { dir, runner, mounter, readMountInfo };
    const internal = createNetnsManager({ ...base, pinner: libc, loopback: true });
    assert.equal(internal.loopback, true);
    const a = await internal.create("a");
    assert.deepEqual(asked, [[a, { loopback: true }]]);

    const off = createNetnsManager({ ...base, pinner: libc, loopback: false });
    assert.equal(off.loopback, false);
    const b = await off.create("b");
    assert.deepEqual(asked[1], [b, {}]);

    // The unshare program cannot: the loopback plugin has to, and create() does not ask.
    const program = createNetnsManager({ ...base, pinner: exec, loopback: true });
    assert.equal(program.loopback, false);
    await program.create("c");
    assert.deepEqual(runner.calls.at(-1)!.args, [`--net=${join(dir, "c")}`, "true"]);
  });
});
