/**
 * readInNetns(): reading a file inside a pinned netns against a fake thread: the read lands in
 * the pod's netns, the thread comes back with no fd open, a file holding the node's netns is
 * refused, every failing step is reported without moving the thread for good, and the fatal
 * cases. No root.
 */
import assert from "node:assert/strict";
import { readInNetns } from "../../../src/sys/netns_read.ts";
import { fakeThread, HOST, POD_NET_INODE, POD_NETNS, readText } from "./_fake_ns_libc.ts";

const NET_DEV = "/proc/thread-self/net/dev";
const SELF_NET = "/proc/thread-self/ns/net";

Deno.test("readInNetns() reads inside the pod's netns and goes back", () => {
  const { libc, calls, landings, now, openFds } = fakeThread();
  assert.deepEqual(readInNetns(libc, POD_NETNS, NET_DEV), {
    ok: true,
    text: readText(NET_DEV, POD_NET_INODE),
  });
  assert.deepEqual(landings, [{ what: `read ${NET_DEV}`, ns: { ...HOST, net: POD_NET_INODE } }]);
  assert.deepEqual(now(), HOST, "the thread is back in the node's netns");
  assert.deepEqual(openFds(), []);
  assert.deepEqual(calls, [
    `open ${SELF_NET}`,
    `open ${POD_NETNS}`,
    `setns net ${POD_NET_INODE}`,
    "close 11",
    `read ${NET_DEV}`,
    `setns net ${HOST.net}`,
    "close 10",
  ]);
});

Deno.test("readInNetns() reads nothing from a file holding the node's netns", () => {
  const { libc, landings, now, openFds } = fakeThread({ files: { "/run/netns/node": HOST.net } });
  const r = readInNetns(libc, "/run/netns/node", NET_DEV);
  assert.ok(!r.ok && r.step === "verify" && !r.fatal, JSON.stringify(r));
  assert.deepEqual(landings, []);
  assert.deepEqual(now(), HOST);
  assert.deepEqual(openFds(), []);
});

Deno.test("readInNetns() reports a failing step and leaves the thread home", async (t) => {
  for (
    const [name, options, step] of [
      ["the thread's netns cannot be opened", { errors: { [`open ${SELF_NET}`]: 24 } }, "open"],
      ["the pod's netns file is gone", { errors: { [`open ${POD_NETNS}`]: 2 } }, "enter"],
      ["setns into it fails", { errors: { [`setns net ${POD_NET_INODE}`]: 22 } }, "enter"],
      ["the file cannot be read", { errors: { [`read ${NET_DEV}`]: 2 } }, "read"],
    ] as const
  ) {
    await t.step(name, () => {
      const { libc, landings, now, openFds } = fakeThread(options);
      const r = readInNetns(libc, POD_NETNS, NET_DEV);
      assert.ok(!r.ok && r.step === step && !r.fatal, JSON.stringify(r));
      assert.deepEqual(landings, []);
      assert.deepEqual(now(), HOST);
      assert.deepEqual(openFds(), []);
    });
  }
});

Deno.test("readInNetns() is fatal when the thread cannot get back", async (t) => {
  for (
    const [name, options] of [
      ["setns back fails", { errors: { [`setns net ${HOST.net}`]: 1 } }],
      ["setns back lands elsewhere", { strands: "net" as const }],
      ["setns back fails after a failed read", {
        errors: { [`read ${NET_DEV}`]: 2, [`setns net ${HOST.net}`]: 1 },
      }],
    ] as const
  ) {
    await t.step(name, () => {
      const { libc, openFds } = fakeThread(options);
      const r = readInNetns(libc, POD_NETNS, NET_DEV);
      assert.ok(!r.ok && r.fatal, JSON.stringify(r));
      assert.deepEqual(openFds(), []);
    });
  }
});
