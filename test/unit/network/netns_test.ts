import assert from "node:assert/strict";
import { join } from "node:path";
import { AlreadyExistsError, InvalidArgumentError } from "../../../src/errors.ts";
import { createNetnsManager, mountPoints } from "../../../src/network/netns.ts";
import { FakeRunner, result } from "./fake_runner.ts";

/** A fake mount table driven by the fake runner's mount/unshare/umount calls. */
function fakeMounts(opts: { failUnshare?: boolean } = {}) {
  const mounts: string[] = [];
  const runner = new FakeRunner((call) => {
    if (call.cmd === "mount" && call.args[0] === "--bind") mounts.push(call.args[2]!);
    if (call.cmd === "unshare") {
      if (opts.failUnshare) return result(1, "", "unshare: mount failed: Permission denied");
      mounts.push(call.args[0]!.slice("--net=".length));
    }
    if (call.cmd === "umount") mounts.splice(mounts.lastIndexOf(call.args.at(-1)!), 1);
    return result(0);
  });
  const readMountInfo = () =>
    Promise.resolve(
      mounts.map((m, i) => `${100 + i} 1 0:4 / ${m.replaceAll(" ", "\\040")} rw - nsfs nsfs rw`)
        .join("\n") + "\n",
    );
  return { mounts, runner, readMountInfo };
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
    const { mounts, runner, readMountInfo } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, readMountInfo });
    const a = await mgr.create("a");
    const b = await mgr.create("b");
    assert.equal(a, join(dir, "a"));
    assert.deepEqual(runner.calls.map((c) => [c.cmd, ...c.args]), [
      ["mount", "--bind", dir, dir],
      ["mount", "--make-private", dir],
      ["unshare", `--net=${a}`, "true"],
      ["unshare", `--net=${b}`, "true"],
    ]);
    assert.deepEqual(mounts, [dir, a, b]);
    assert.deepEqual(await mgr.list(), [a, b]);
    // A second manager (daemon restart) sees the dir is already a mount point.
    const again = createNetnsManager({ dir, runner, readMountInfo });
    runner.calls.length = 0;
    await again.create("c");
    assert.deepEqual(runner.calls.map((c) => c.cmd), ["unshare"]);
  });
});

Deno.test("NetnsManager.create() refuses a duplicate or a bad name", async () => {
  await withDir(async (dir) => {
    const { runner, readMountInfo } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, readMountInfo });
    await mgr.create("a");
    await assert.rejects(mgr.create("a"), AlreadyExistsError);
    await assert.rejects(mgr.create("../etc"), InvalidArgumentError);
    await assert.rejects(mgr.create(""), InvalidArgumentError);
  });
});

Deno.test("NetnsManager.create() rolls back the file when unshare fails", async () => {
  await withDir(async (dir) => {
    const { runner, readMountInfo } = fakeMounts({ failUnshare: true });
    const mgr = createNetnsManager({ dir, runner, readMountInfo });
    await assert.rejects(mgr.create("a"), /Cannot create network namespace ".*\/a"/);
    assert.deepEqual(await mgr.list(), []);
  });
});

Deno.test("NetnsManager.remove() unmounts and unlinks, and is idempotent", async () => {
  await withDir(async (dir) => {
    const { mounts, runner, readMountInfo } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, readMountInfo });
    const a = await mgr.create("a");
    runner.calls.length = 0;
    await mgr.remove(a);
    assert.deepEqual(runner.calls.map((c) => [c.cmd, ...c.args]), [["umount", "--lazy", a]]);
    assert.deepEqual(mounts, [dir]);
    assert.deepEqual(await mgr.list(), []);
    await mgr.remove(a);
    assert.equal(runner.calls.length, 1, "nothing to unmount the second time");
  });
});

Deno.test("NetnsManager.remove() refuses paths outside its dir", async () => {
  await withDir(async (dir) => {
    const { runner, readMountInfo } = fakeMounts();
    const mgr = createNetnsManager({ dir, runner, readMountInfo });
    await assert.rejects(mgr.remove("/etc/passwd"), InvalidArgumentError);
    await assert.rejects(mgr.remove(join(dir, "..", "x")), InvalidArgumentError);
    assert.equal(runner.calls.length, 0);
  });
});

Deno.test("mountPoints() decodes octal escapes", () => {
  const info =
    "36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 - ext3 /dev/root rw\n" +
    "37 35 0:4 / /run/ocid/netns/x rw - nsfs nsfs rw\n";
  assert.deepEqual(mountPoints(info), ["/mnt with space", "/run/ocid/netns/x"]);
});
