/** pinNewNetns(): the synchronous sequence against a fake thread. No root. */
import assert from "node:assert/strict";
import { pinNewNetns } from "../../../src/sys/netns_pin.ts";
import { fakeThread, HOST } from "./_fake_ns_libc.ts";

const NETNS = "/proc/thread-self/ns/net";

Deno.test("pinNewNetns() unshares, bind-mounts, goes back and closes", () => {
  const { libc, calls, mounts, now, openFds } = fakeThread();
  assert.deepEqual(pinNewNetns(libc, "/n/a"), { ok: true, inode: 1000 });
  assert.deepEqual(calls, [
    `open ${NETNS}`,
    "unshare net",
    "mount net /n/a",
    `setns net ${HOST.net}`,
    "close 10",
  ]);
  assert.equal(mounts.get("/n/a"), 1000);
  assert.deepEqual(now(), HOST);
  assert.deepEqual(openFds(), []);
});

Deno.test("pinNewNetns() with loopback brings lo up inside the new netns before the mount", () => {
  const { libc, calls, landings, now } = fakeThread();
  assert.deepEqual(pinNewNetns(libc, "/n/a", { loopback: true }), { ok: true, inode: 1000 });
  assert.deepEqual(calls.slice(1, 4), ["unshare net", "lo up", "mount net /n/a"]);
  assert.deepEqual(landings, [{ what: "lo up", ns: { ...HOST, net: 1000 } }]);
  assert.deepEqual(now(), HOST);
});

Deno.test("pinNewNetns() reports a failed open or unshare without moving", async (t) => {
  await t.step("open", () => {
    const { libc, calls } = fakeThread({ errors: { [`open ${NETNS}`]: 24 } });
    assert.deepEqual(pinNewNetns(libc, "/n/a"), {
      ok: false,
      step: "open",
      errno: 24,
      detail: "error 24",
      fatal: false,
    });
    assert.deepEqual(calls, [`open ${NETNS}`]);
  });
  await t.step("unshare", () => {
    const { libc, calls, openFds } = fakeThread({ errors: { "unshare net": 1 } });
    const r = pinNewNetns(libc, "/n/a");
    assert.deepEqual(r, { ok: false, step: "unshare", errno: 1, detail: "error 1", fatal: false });
    assert.deepEqual(calls, [`open ${NETNS}`, "unshare net", "close 10"]);
    assert.deepEqual(openFds(), []);
  });
});

Deno.test("pinNewNetns() still goes back when bringing lo up or the mount fails", async (t) => {
  await t.step("lo up fails: no mount, back home", () => {
    const { libc, calls, mounts, now } = fakeThread({ errors: { "lo up": 19 } });
    const r = pinNewNetns(libc, "/n/a", { loopback: true });
    assert.deepEqual(r, {
      ok: false,
      step: "loopback",
      errno: 19,
      detail: "error 19",
      fatal: false,
    });
    assert.ok(!calls.some((c) => c.startsWith("mount")));
    assert.equal(mounts.size, 0);
    assert.deepEqual(now(), HOST);
  });
  await t.step("the mount fails", () => {
    const { libc, calls, now } = fakeThread({ errors: { "mount net /n/a": 2 } });
    const r = pinNewNetns(libc, "/n/a");
    assert.deepEqual(r, { ok: false, step: "mount", errno: 2, detail: "error 2", fatal: false });
    assert.deepEqual(calls.slice(-2), [`setns net ${HOST.net}`, "close 10"]);
    assert.deepEqual(now(), HOST);
  });
  await t.step("a call that throws is a failed step, and the thread still goes back", () => {
    for (const label of ["lo up", "mount net /n/a"]) {
      const { libc, mounts, now, openFds } = fakeThread({ throws: [label] });
      const r = pinNewNetns(libc, "/n/a", { loopback: true });
      assert.ok(!r.ok && !r.fatal, label);
      assert.equal(!r.ok && r.step, label === "lo up" ? "loopback" : "mount");
      assert.match(!r.ok ? r.detail : "", /threw/);
      assert.equal(mounts.size, 0);
      assert.deepEqual(now(), HOST);
      assert.deepEqual(openFds(), []);
    }
  });
});

Deno.test("pinNewNetns() undoes the mount and is fatal when setns fails", () => {
  const { libc, calls, mounts } = fakeThread({ errors: { [`setns net ${HOST.net}`]: 22 } });
  const r = pinNewNetns(libc, "/n/a");
  assert.deepEqual(r, { ok: false, step: "setns", errno: 22, detail: "error 22", fatal: true });
  assert.deepEqual(calls.slice(-3), [`setns net ${HOST.net}`, "umount /n/a", "close 10"]);
  assert.equal(mounts.size, 0);
});

Deno.test("pinNewNetns() is fatal when the thread is elsewhere after setns", () => {
  const { libc, mounts } = fakeThread({ strands: "net" });
  const r = pinNewNetns(libc, "/n/a");
  assert.ok(!r.ok && r.step === "verify" && r.fatal);
  assert.match(!r.ok ? r.detail : "", /inode 999 after setns, not 100/);
  assert.equal(mounts.size, 0, "the mount is undone");
});

Deno.test("pinNewNetns() refuses a file that ends up holding the original netns", () => {
  const { libc, calls, mounts } = fakeThread({ unshareStays: true });
  const r = pinNewNetns(libc, "/n/a");
  assert.ok(!r.ok && r.step === "verify" && !r.fatal);
  assert.match(!r.ok ? r.detail : "", /holds the original netns/);
  assert.ok(calls.includes("umount /n/a"));
  assert.equal(mounts.size, 0);
});
