/**
 * The steps that pin a new network namespace on a file, run synchronously on one thread:
 *
 * 1. open the thread's netns (`orig`) and note its inode;
 * 2. `unshare(CLONE_NEWNET)`: this thread alone moves into a new, empty netns;
 * 3. bind-mount `/proc/thread-self/ns/net` on the (existing, empty) target file;
 * 4. `setns(orig, CLONE_NEWNET)`: back to where the thread was, whatever step 3 did;
 * 5. check the thread's netns inode is the one noted in 1, and that the target holds a
 *    different namespace; close `orig`.
 *
 * A failure after step 2 still runs step 4, then undoes the mount. When the thread cannot get
 * back (step 4 or its check fails) the result is `fatal`: the thread is stranded in a foreign
 * namespace and must not be used again.
 *
 * @module
 */
import { type NetnsLibc, THREAD_NETNS } from "./libc_netns.ts";

/** The step a pin failed at. */
export type PinStep = "open" | "unshare" | "mount" | "setns" | "verify";

/** What {@linkcode pinNewNetns} did. */
export type PinResult =
  | { ok: true; /** The new namespace's inode. */ inode: number }
  | {
    ok: false;
    step: PinStep;
    /** The errno of the failed call, or 0 when a check failed. */
    errno: number;
    /** Why, in words (`strerror`, or what the check found). */
    detail: string;
    /** The thread is not back in its original netns: retire it. */
    fatal: boolean;
  };

/**
 * Pins a new network namespace on `target`, leaving the calling thread where it was.
 *
 * @param libc The calls (tests pass a fake).
 * @param target An existing empty file to mount the namespace on.
 * @returns The new namespace's inode, or the failed step.
 */
export function pinNewNetns(libc: NetnsLibc, target: string): PinResult {
  const fail = (step: PinStep, errno: number, detail?: string, fatal = false): PinResult => ({
    ok: false,
    step,
    errno,
    detail: detail ?? libc.strerror(errno),
    fatal,
  });
  let before: number;
  try {
    before = libc.inode();
  } catch (e) {
    return fail("open", 0, `cannot stat ${THREAD_NETNS}: ${text(e)}`);
  }
  const orig = libc.openNetns();
  if (orig < 0) return fail("open", -orig);
  try {
    const unshared = libc.unshareNet();
    if (unshared !== 0) return fail("unshare", unshared);
    const mounted = libc.bindMount(THREAD_NETNS, target);
    const back = libc.setnsNet(orig);
    let now = -1;
    let nowError = "";
    try {
      now = libc.inode();
    } catch (e) {
      nowError = text(e);
    }
    if (back !== 0 || now !== before) {
      if (mounted === 0) libc.unmountDetach(target);
      if (back !== 0) return fail("setns", back, undefined, true);
      return fail(
        "verify",
        0,
        nowError
          ? `cannot stat ${THREAD_NETNS} after setns: ${nowError}`
          : `the thread is in netns inode ${now} after setns, not ${before}`,
        true,
      );
    }
    if (mounted !== 0) return fail("mount", mounted);
    let pinned = -1;
    try {
      pinned = libc.inode(target);
    } catch (e) {
      libc.unmountDetach(target);
      return fail("verify", 0, `cannot stat the pinned namespace: ${text(e)}`);
    }
    if (pinned === before) {
      libc.unmountDetach(target);
      return fail("verify", 0, `the file holds the original netns (inode ${before})`);
    }
    return { ok: true, inode: pinned };
  } finally {
    libc.close(orig);
  }
}

function text(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
