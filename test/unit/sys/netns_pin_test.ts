import assert from "node:assert/strict";
import type { NetnsLibc } from "../../../src/sys/libc_netns.ts";
import { pinNewNetns } from "../../../src/sys/netns_pin.ts";

const HOST = 100;
const NEW = 200;

/**
 * A thread that records its calls and keeps a netns inode; `fail` names calls that fail with
 * an errno (or, for `inode`, with the inode the thread reports after setns).
 */
function fakeThread(fail: Partial<Record<string, number>> = {}) {
  const calls: string[] = [];
  let ns = HOST;
  const mounts = new Map<string, number>();
  const libc: NetnsLibc = {
    openNetns() {
      calls.push("open");
      return fail.open ? -fail.open : 7;
    },
    close(fd) {
      calls.push(`close ${fd}`);
      return 0;
    },
    unshareNet() {
      calls.push("unshare");
      if (fail.unshare) return fail.unshare;
      ns = NEW;
      return 0;
    },
    bindMount(source, target) {
      calls.push(`mount ${source} ${target}`);
      if (fail.mount) return fail.mount;
      mounts.set(target, fail.mountHost ? HOST : ns);
      return 0;
    },
    setnsNet(fd) {
      calls.push(`setns ${fd}`);
      if (fail.setns) return fail.setns;
      ns = fail.inodeAfter ?? HOST;
      return 0;
    },
    unmountDetach(target) {
      calls.push(`umount ${target}`);
      mounts.delete(target);
      return 0;
    },
    inode(path) {
      if (path === undefined) return ns;
      const ino = mounts.get(path);
      if (ino === undefined) throw new Error(`no such file "${path}"`);
      return ino;
    },
    strerror: (n) => `error ${n}`,
  };
  return { libc, calls, mounts, ns: () => ns };
}

Deno.test("pinNewNetns() unshares, bind-mounts, goes back and closes", () => {
  const { libc, calls, mounts, ns } = fakeThread();
  assert.deepEqual(pinNewNetns(libc, "/n/a"), { ok: true, inode: NEW });
  assert.deepEqual(calls, [
    "open",
    "unshare",
    "mount /proc/thread-self/ns/net /n/a",
    "setns 7",
    "close 7",
  ]);
  assert.equal(mounts.get("/n/a"), NEW);
  assert.equal(ns(), HOST);
});

Deno.test("pinNewNetns() reports a failed open or unshare without moving", async (t) => {
  await t.step("open", () => {
    const { libc, calls } = fakeThread({ open: 24 });
    assert.deepEqual(pinNewNetns(libc, "/n/a"), {
      ok: false,
      step: "open",
      errno: 24,
      detail: "error 24",
      fatal: false,
    });
    assert.deepEqual(calls, ["open"]);
  });
  await t.step("unshare", () => {
    const { libc, calls } = fakeThread({ unshare: 1 });
    const r = pinNewNetns(libc, "/n/a");
    assert.deepEqual(r, { ok: false, step: "unshare", errno: 1, detail: "error 1", fatal: false });
    assert.deepEqual(calls, ["open", "unshare", "close 7"]);
  });
});

Deno.test("pinNewNetns() still goes back when the mount fails", () => {
  const { libc, calls, ns } = fakeThread({ mount: 2 });
  const r = pinNewNetns(libc, "/n/a");
  assert.deepEqual(r, { ok: false, step: "mount", errno: 2, detail: "error 2", fatal: false });
  assert.deepEqual(calls.slice(-2), ["setns 7", "close 7"]);
  assert.equal(ns(), HOST);
});

Deno.test("pinNewNetns() undoes the mount and is fatal when setns fails", () => {
  const { libc, calls, mounts } = fakeThread({ setns: 22 });
  const r = pinNewNetns(libc, "/n/a");
  assert.deepEqual(r, { ok: false, step: "setns", errno: 22, detail: "error 22", fatal: true });
  assert.deepEqual(calls.slice(-3), ["setns 7", "umount /n/a", "close 7"]);
  assert.equal(mounts.size, 0);
});

Deno.test("pinNewNetns() is fatal when the thread is elsewhere after setns", () => {
  const { libc, mounts } = fakeThread({ inodeAfter: 300 });
  const r = pinNewNetns(libc, "/n/a");
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.step === "verify" && r.fatal);
  assert.match(!r.ok ? r.detail : "", /inode 300 after setns, not 100/);
  assert.equal(mounts.size, 0, "the mount is undone");
});

Deno.test("pinNewNetns() refuses a file that ends up holding the original netns", () => {
  const { libc, calls, mounts } = fakeThread({ mountHost: 1 });
  const r = pinNewNetns(libc, "/n/a");
  assert.ok(!r.ok && r.step === "verify" && !r.fatal);
  assert.match(!r.ok ? r.detail : "", /holds the original netns/);
  assert.ok(calls.includes("umount /n/a"));
  assert.equal(mounts.size, 0);
});
