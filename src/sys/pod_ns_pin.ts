/**
 * The steps that pin a pod's new IPC and UTS namespaces on files and set the pod's hostname
 * and sysctls inside them, run synchronously on one thread (the daemon's main thread):
 *
 * 1. note the inodes of the thread's IPC, UTS (and, with `net` sysctls, network) namespaces
 *    and open them (`orig`);
 * 2. `unshare(CLONE_NEWIPC | CLONE_NEWUTS)` (the types asked for): this thread alone moves;
 * 3. check each of those namespaces is new (its inode differs from step 1): nothing is
 *    written before this check, so nothing can land on the node;
 * 4. `sethostname(2)`, then each IPC sysctl written to `/proc/sys/<path>` (resolved against
 *    the writing thread's IPC namespace);
 * 5. for `net` sysctls: `setns` into the pod's netns, check the thread is there (and not in
 *    the node's), write them (resolved against the thread's netns), `setns` back to `orig`;
 * 6. bind-mount `/proc/thread-self/ns/{ipc,uts}` on the (existing, empty) target files;
 * 7. `setns` back to the original IPC and UTS namespaces, check every inode is the one of
 *    step 1, and that each target holds a namespace other than the node's.
 *
 * A sysctl is thus written only inside a namespace this call made or the pod's netns, never
 * on the node (CRI-O's GHSA-w2j5-3rcx-vx7x). A failure after step 2 still runs step 7, then
 * undoes the mounts; sysctls written to the pod's netns stay (the caller removes that netns).
 * When the thread cannot get back the result is `fatal`: the thread is stranded in a foreign
 * namespace and must not be used again.
 *
 * @module
 */
import { CLONE_FLAGS, CLONE_NEWNET, type NsLibc, type NsType, threadNs } from "./libc_ns.ts";
import type { Fail, PinFailure } from "./netns_pin.ts";
import { failureOf, text } from "./netns_pin.ts";

/** One sysctl of a pod: its name, the namespace it lives in, its `/proc/sys` path. */
export interface PodSysctl {
  /** As the pod named it, for messages: `kernel.shmmax`. */
  name: string;
  /** The namespace it belongs to. */
  ns: "ipc" | "net";
  /** Relative to `/proc/sys`: `kernel/shmmax`. */
  path: string;
  value: string;
}

/** What to pin for a pod and set inside. */
export interface PodNsSpec {
  /** Pin a new IPC namespace on this existing empty file. */
  ipc?: string;
  /** Pin a new UTS namespace on this existing empty file. */
  uts?: string;
  /** Set in the new UTS namespace; "" keeps the one inherited. */
  hostname: string;
  /** IPC sysctls need `ipc`; `net` ones need `netns`. */
  sysctls: readonly PodSysctl[];
  /** The pod's network namespace file, entered for `net` sysctls. */
  netns?: string;
}

/** What {@linkcode pinPodNamespaces} did. */
export type PodPinResult = { ok: true } | PinFailure;

/**
 * Checks that every sysctl and the hostname go to a namespace the spec makes (or the pod's
 * netns).
 *
 * @returns undefined, or what is wrong.
 */
export function podNsSpecProblem(spec: PodNsSpec): string | undefined {
  if (spec.hostname !== "" && spec.uts === undefined) {
    return "a hostname needs a UTS namespace of the pod's own";
  }
  for (const s of spec.sysctls) {
    if (s.ns === "ipc" && spec.ipc === undefined) {
      return `sysctl "${s.name}" needs an IPC namespace of the pod's own`;
    }
    if (s.ns === "net" && spec.netns === undefined) {
      return `sysctl "${s.name}" needs a network namespace of the pod's own`;
    }
    if (s.path === "" || s.path.split("/").some((p) => p === "" || p === "." || p === "..")) {
      return `sysctl "${s.name}" has an invalid path "${s.path}"`;
    }
  }
  return undefined;
}

/**
 * Pins new IPC and UTS namespaces and sets the hostname and sysctls inside; see the module
 * doc. The calling thread ends where it was, unless the result is `fatal`.
 *
 * @param libc The calls (tests pass a fake).
 * @param spec What to pin and set.
 * @returns `ok`, or the failed step.
 */
export function pinPodNamespaces(libc: NsLibc, spec: PodNsSpec): PodPinResult {
  const fail = failureOf(libc);
  const problem = podNsSpecProblem(spec);
  if (problem) return fail("verify", 0, problem);
  const targets: [NsType, string][] = [];
  if (spec.ipc !== undefined) targets.push(["ipc", spec.ipc]);
  if (spec.uts !== undefined) targets.push(["uts", spec.uts]);
  if (targets.length === 0) return { ok: true };
  const netSysctls = spec.sysctls.filter((s) => s.ns === "net");
  const types: NsType[] = targets.map(([t]) => t);
  if (netSysctls.length > 0) types.push("net");

  const before = new Map<NsType, number>();
  const orig = new Map<NsType, number>();
  try {
    const opened = openOriginals(libc, types, before, orig, fail);
    if (opened) return opened;
    const flags = targets.reduce((f, [t]) => f | CLONE_FLAGS[t], 0);
    const unshared = libc.unshare(flags);
    if (unshared !== 0) return fail("unshare", unshared);

    // The thread is in new namespaces from here: every path goes through the way back.
    const mounted: string[] = [];
    let failure: PinFailure | undefined;
    try {
      failure = inside(libc, spec, targets, before, orig, mounted, fail);
    } catch (e) {
      // A call that throws is a failed step; it must not skip the way back.
      failure = fail("verify", 0, text(e));
    }
    failure = comeBack(libc, targets, before, orig, fail, failure);
    failure ??= checkPinned(libc, targets, before, fail);
    if (failure) {
      for (const target of mounted) libc.unmountDetach(target);
      return failure;
    }
    return { ok: true };
  } finally {
    for (const fd of orig.values()) libc.close(fd);
  }
}

/** Step 1: notes the inode of each namespace of the thread in `before`, opens it into `orig`. */
function openOriginals(
  libc: NsLibc,
  types: NsType[],
  before: Map<NsType, number>,
  orig: Map<NsType, number>,
  fail: Fail,
): PinFailure | undefined {
  for (const t of types) {
    try {
      before.set(t, libc.inode(threadNs(t)));
    } catch (e) {
      return fail("open", 0, `cannot stat ${threadNs(t)}: ${text(e)}`);
    }
    const fd = libc.open(threadNs(t));
    if (fd < 0) return fail("open", -fd, `cannot open ${threadNs(t)}: ${libc.strerror(-fd)}`);
    orig.set(t, fd);
  }
  return undefined;
}

/**
 * Step 7: `setns` back to the original IPC and UTS namespaces and checks every namespace of
 * the thread is the one noted before; either failing is fatal and outranks `failure`.
 */
function comeBack(
  libc: NsLibc,
  targets: [NsType, string][],
  before: Map<NsType, number>,
  orig: Map<NsType, number>,
  fail: Fail,
  failure: PinFailure | undefined,
): PinFailure | undefined {
  for (const [t] of targets) {
    const back = libc.setns(orig.get(t)!, CLONE_FLAGS[t]);
    if (back !== 0 && !failure?.fatal) {
      const detail = `setns back to the ${t} namespace: ${libc.strerror(back)}`;
      failure = fail("setns", back, detail, true);
    }
  }
  if (failure?.fatal) return failure;
  return stranded(libc, before, fail) ?? failure;
}

/** Step 7, last: each target holds a namespace other than the thread's original one. */
function checkPinned(
  libc: NsLibc,
  targets: [NsType, string][],
  before: Map<NsType, number>,
  fail: Fail,
): PinFailure | undefined {
  for (const [t, target] of targets) {
    let pinned: number;
    try {
      pinned = libc.inode(target);
    } catch (e) {
      return fail("verify", 0, `cannot stat the pinned ${t} namespace: ${text(e)}`);
    }
    if (pinned === before.get(t)) {
      return fail("verify", 0, `"${target}" holds the original ${t} namespace`);
    }
  }
  return undefined;
}

/** Steps 3 to 6, in the new namespaces; records the mounts it made in `mounted`. */
function inside(
  libc: NsLibc,
  spec: PodNsSpec,
  targets: [NsType, string][],
  before: Map<NsType, number>,
  orig: Map<NsType, number>,
  mounted: string[],
  fail: Fail,
): PinFailure | undefined {
  for (const [t] of targets) {
    let now = -1;
    try {
      now = libc.inode(threadNs(t));
    } catch (e) {
      return fail("verify", 0, `cannot stat ${threadNs(t)} after unshare: ${text(e)}`);
    }
    if (now === before.get(t)) {
      return fail("verify", 0, `unshare left the thread in the original ${t} namespace`);
    }
  }
  if (spec.uts !== undefined && spec.hostname !== "") {
    const errno = libc.sethostname(spec.hostname);
    if (errno !== 0) {
      return fail("hostname", errno, `hostname "${spec.hostname}": ${libc.strerror(errno)}`);
    }
  }
  const written = writeSysctls(libc, spec.sysctls.filter((s) => s.ns === "ipc"), fail);
  if (written) return written;
  const netSysctls = spec.sysctls.filter((s) => s.ns === "net");
  if (netSysctls.length > 0) {
    const net = inPodNetns(
      libc,
      spec.netns!,
      before.get("net")!,
      orig.get("net")!,
      fail,
      () => writeSysctls(libc, netSysctls, fail),
    );
    if (net) return net;
  }
  for (const [t, target] of targets) {
    const errno = libc.bindMount(threadNs(t), target);
    if (errno !== 0) {
      return fail("mount", errno, `bind mount of the ${t} namespace: ${libc.strerror(errno)}`);
    }
    mounted.push(target);
  }
  return undefined;
}

function writeSysctls(libc: NsLibc, sysctls: PodSysctl[], fail: Fail): PinFailure | undefined {
  for (const s of sysctls) {
    const errno = libc.writeFile(`/proc/sys/${s.path}`, s.value);
    if (errno !== 0) {
      return fail("sysctl", errno, `sysctl "${s.name}" = "${s.value}": ${libc.strerror(errno)}`);
    }
  }
  return undefined;
}

/**
 * Runs `fn` with the thread in the pod's netns (checked to be that one and not the node's),
 * then moves it back to `origFd`; failing to get back is fatal. Also used by `netns_read.ts`.
 *
 * @param nodeInode The inode of the thread's netns before (the node's): never entered.
 * @param origFd The thread's netns before, open.
 * @returns undefined, or the failed step (`fn`'s own failure when the way back worked).
 */
export function inPodNetns(
  libc: NsLibc,
  netns: string,
  nodeInode: number,
  origFd: number,
  fail: Fail,
  fn: () => PinFailure | undefined,
): PinFailure | undefined {
  const fd = libc.open(netns);
  if (fd < 0) return fail("enter", -fd, `cannot open "${netns}": ${libc.strerror(-fd)}`);
  const entered = libc.setns(fd, CLONE_NEWNET);
  libc.close(fd);
  if (entered !== 0) {
    return fail("enter", entered, `setns into "${netns}": ${libc.strerror(entered)}`);
  }
  let result: PinFailure | undefined;
  try {
    const here = libc.inode(threadNs("net"));
    if (here === nodeInode || here !== libc.inode(netns)) {
      result = fail("verify", 0, `setns into "${netns}" left the thread in netns inode ${here}`);
    }
  } catch (e) {
    result = fail("verify", 0, `cannot check the thread's netns: ${text(e)}`);
  }
  try {
    result ??= fn();
  } catch (e) {
    result = fail("sysctl", 0, text(e));
  }
  const back = libc.setns(origFd, CLONE_NEWNET);
  if (back !== 0) {
    return fail("setns", back, `setns back to the network namespace: ${libc.strerror(back)}`, true);
  }
  return result;
}

/**
 * A fatal failure when any namespace of the thread differs from the one noted before. Also
 * used by `netns_read.ts`.
 */
export function stranded(
  libc: NsLibc,
  before: Map<NsType, number>,
  fail: Fail,
): PinFailure | undefined {
  for (const [t, ino] of before) {
    let now = -1;
    let error = "";
    try {
      now = libc.inode(threadNs(t));
    } catch (e) {
      error = text(e);
    }
    if (now !== ino) {
      return fail(
        "verify",
        0,
        error
          ? `cannot stat ${threadNs(t)} after setns: ${error}`
          : `the thread is in ${t} namespace inode ${now} after setns, not ${ino}`,
        true,
      );
    }
  }
  return undefined;
}
