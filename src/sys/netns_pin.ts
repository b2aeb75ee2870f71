/**
 * The steps that pin a new network namespace on a file, run synchronously on one thread:
 *
 * 1. open the thread's netns (`orig`) and note its inode;
 * 2. `unshare(CLONE_NEWNET)`: this thread alone moves into a new, empty netns;
 * 3. with `loopback`, bring `lo` up in it (a socket made now belongs to the new netns);
 * 4. bind-mount `/proc/thread-self/ns/net` on the (existing, empty) target file;
 * 5. `setns(orig, CLONE_NEWNET)`: back to where the thread was, whatever steps 3 and 4 did;
 * 6. check the thread's netns inode is the one noted in 1, and that the target holds a
 *    different namespace; close `orig`.
 *
 * A failure after step 2 still runs step 5, then undoes the mount. When the thread cannot get
 * back (step 5 or its check fails) the result is `fatal`: the thread is stranded in a foreign
 * namespace and must not be used again.
 *
 * @module
 */
import { CLONE_NEWNET, type NsLibc, THREAD_NETNS } from "./libc_ns.ts";

/** The step a pin failed at. */
export type PinStep =
  | "open"
  | "unshare"
  | "loopback"
  | "hostname"
  | "sysctl"
  | "enter"
  | "read"
  | "mount"
  | "setns"
  | "verify";

/** A failed pin. */
export interface PinFailure {
  ok: false;
  step: PinStep;
  /** The errno of the failed call, or 0 when a check failed. */
  errno: number;
  /** Why, in words (`strerror`, or what the check found). */
  detail: string;
  /** The thread is not back in its original namespaces: retire it. */
  fatal: boolean;
}

/** What {@linkcode pinNewNetns} did. */
export type PinResult =
  | { ok: true; /** The new namespace's inode. */ inode: number }
  | PinFailure;

/** Options of {@linkcode pinNewNetns}. */
export interface PinNetnsOptions {
  /** Bring `lo` up inside the new namespace before pinning it. @default false */
  loopback?: boolean;
}

/**
 * Pins a new network namespace on `target`, leaving the calling thread where it was.
 *
 * @param libc The calls (tests pass a fake).
 * @param target An existing empty file to mount the namespace on.
 * @param options Whether to bring `lo` up in it.
 * @returns The new namespace's inode, or the failed step.
 */
export function pinNewNetns(
  libc: NsLibc,
  target: string,
  options: PinNetnsOptions = {},
): PinResult {
  const fail = failureOf(libc);
  const home = openThreadNetns(libc, fail);
  if ("ok" in home) return home;
  const { before, orig } = home;
  try {
    const unshared = libc.unshare(CLONE_NEWNET);
    if (unshared !== 0) return fail("unshare", unshared);
    // Nothing may skip the way back: a call that throws is a failed step.
    let loopback = 0;
    let mounted = -1;
    let thrown = "";
    let step: PinStep = "loopback";
    try {
      loopback = options.loopback ? libc.loopbackUp() : 0;
      step = "mount";
      if (loopback === 0) mounted = libc.bindMount(THREAD_NETNS, target);
    } catch (e) {
      thrown = text(e);
    }
    const back = libc.setns(orig, CLONE_NEWNET);
    let now = -1;
    let nowError = "";
    try {
      now = libc.inode(THREAD_NETNS);
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
    if (thrown) {
      if (mounted === 0) libc.unmountDetach(target);
      return fail(step, 0, thrown);
    }
    if (loopback !== 0) return fail("loopback", loopback);
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

/** Builds the failure of a step of a namespace section ({@linkcode failureOf}). */
export type Fail = (step: PinStep, errno: number, detail?: string, fatal?: boolean) => PinFailure;

/**
 * The first step of every netns section: notes the inode of the calling thread's netns and
 * opens it, so the thread can `setns` back and prove it did.
 *
 * @param libc The calls.
 * @param fail The section's failure maker ({@linkcode failureOf}).
 * @returns The inode and the fd (the caller closes it), or the failed `open` step.
 */
export function openThreadNetns(
  libc: NsLibc,
  fail: Fail,
): { before: number; orig: number } | PinFailure {
  let before: number;
  try {
    before = libc.inode(THREAD_NETNS);
  } catch (e) {
    return fail("open", 0, `cannot stat ${THREAD_NETNS}: ${text(e)}`);
  }
  const orig = libc.open(THREAD_NETNS);
  if (orig < 0) return fail("open", -orig);
  return { before, orig };
}

/**
 * The failure maker of a pin: a step, its errno, and why in words (`strerror` of the errno
 * unless `detail` says otherwise); `fatal` when the thread could not get back.
 *
 * @param libc Gives `strerror`.
 * @returns The function that builds a {@linkcode PinFailure}.
 */
export function failureOf(libc: Pick<NsLibc, "strerror">): Fail {
  return (step, errno, detail, fatal = false) => ({
    ok: false,
    step,
    errno,
    detail: detail ?? libc.strerror(errno),
    fatal,
  });
}

/** The message of an error, or the value as text. */
export function text(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
