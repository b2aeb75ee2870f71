/** enterNetns(): open, setns, close, and the inode check, with a fake thread. No root. */
import assert from "node:assert/strict";
import { enterNetns } from "../../../src/sys/libc_ns.ts";
import { fakeThread, HOST, POD_NET_INODE, POD_NETNS } from "./_fake_ns_libc.ts";

Deno.test("enterNetns() moves the thread, closes the fd and checks the inode", () => {
  const ok = fakeThread();
  assert.equal(enterNetns(ok.libc, POD_NETNS), undefined);
  assert.deepEqual(ok.calls, [`open ${POD_NETNS}`, `setns net ${POD_NET_INODE}`, "close 10"]);
  assert.equal(ok.now().net, POD_NET_INODE);
  assert.equal(
    enterNetns(fakeThread({ errors: { [`open ${POD_NETNS}`]: 2 } }).libc, POD_NETNS),
    `cannot open "${POD_NETNS}": error 2`,
  );
  const failed = fakeThread({ errors: { [`setns net ${POD_NET_INODE}`]: 1 } });
  assert.equal(enterNetns(failed.libc, POD_NETNS), `setns("${POD_NETNS}") failed: error 1`);
  assert.deepEqual(failed.calls.at(-1), "close 10", "the fd is closed after a failed setns");
  const held = fakeThread({ files: { "/run/netns/other": HOST.ipc } });
  held.libc.setns = () => 0; // Succeeds without moving.
  assert.equal(
    enterNetns(held.libc, "/run/netns/other"),
    `setns("/run/netns/other") did not move the thread`,
  );
});
