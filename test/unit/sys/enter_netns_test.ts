/** enterNetns(): open, setns, close, and the inode check, with a fake libc. No root. */
import assert from "node:assert/strict";
import { enterNetns, type NetnsLibc } from "../../../src/sys/libc_netns.ts";

const POD = "/run/netns/pod";

function fake(o: { open?: number; setns?: number; moves?: boolean } = {}) {
  const calls: string[] = [];
  let here = 1;
  const libc: NetnsLibc = {
    openNetns(path) {
      calls.push(`open ${path}`);
      return o.open ? -o.open : 9;
    },
    close(fd) {
      calls.push(`close ${fd}`);
      return 0;
    },
    setnsNet(fd) {
      calls.push(`setns ${fd}`);
      if (o.setns) return o.setns;
      if (o.moves !== false) here = 2;
      return 0;
    },
    inode: (path) => (path === POD ? 2 : here),
    strerror: (n) => `E${n}`,
    unshareNet: () => assert.fail("unshare"),
    bindMount: () => assert.fail("mount"),
    unmountDetach: () => assert.fail("umount"),
  };
  return { libc, calls };
}

Deno.test("enterNetns() moves the thread, closes the fd and checks the inode", () => {
  const ok = fake();
  assert.equal(enterNetns(ok.libc, POD), undefined);
  assert.deepEqual(ok.calls, [`open ${POD}`, "setns 9", "close 9"]);
  assert.equal(enterNetns(fake({ open: 2 }).libc, POD), `cannot open "${POD}": E2`);
  const failed = fake({ setns: 1 });
  assert.equal(enterNetns(failed.libc, POD), `setns("${POD}") failed: E1`);
  assert.deepEqual(failed.calls.at(-1), "close 9", "the fd is closed after a failed setns");
  assert.equal(
    enterNetns(fake({ moves: false }).libc, POD),
    `setns("${POD}") did not move the thread`,
  );
});
