/**
 * A fake thread for the namespace sequences (`netns_pin.ts`, `pod_ns_pin.ts`): it keeps the
 * thread's net, IPC and UTS namespace inodes, namespace files (`open` snapshots the inode),
 * mounts, and what was written where; every call is recorded by a label, and any label can be
 * made to fail with an errno (`errors`) or to throw (`throws`).
 *
 * Labels: `open <path>`, `close <fd>`, `unshare <types>` (`ipc+uts`), `setns <type> <inode>`,
 * `mount <type> <target>`, `umount <target>`, `sethostname <name>`, `lo up`,
 * `write <path>=<value>`, `read <path>` (gives {@linkcode readText} of the thread's netns).
 */
import { CLONE_FLAGS, type NsLibc, type NsType } from "../../../src/sys/libc_ns.ts";

/** The node's namespaces. */
export const HOST: Readonly<Record<NsType, number>> = { net: 100, ipc: 200, uts: 300 };
/** The pod's network namespace file and its inode. */
export const POD_NETNS = "/run/netns/pod";
export const POD_NET_INODE = 150;

/** What the fake's `readFile` gives: the path and the thread's netns inode at the time. */
export function readText(path: string, netInode: number): string {
  return `${path} in netns ${netInode}`;
}

/** Options of {@linkcode fakeThread}. */
export interface FakeThreadOptions {
  /** Label → errno the call returns (for `open`, the fd becomes `-errno`). */
  errors?: Record<string, number>;
  /** Labels whose call throws. */
  throws?: string[];
  /** `unshare` succeeds without moving the thread. */
  unshareStays?: boolean;
  /** `setns` back to a node namespace of this type succeeds but leaves it at 999. */
  strands?: NsType;
  /** A bind mount pins the node's namespace of its type instead of the thread's. */
  mountsNode?: boolean;
  /** Extra files and the namespace inode they hold (e.g. a pod netns holding the node's). */
  files?: Record<string, number>;
}

/** A record of a write or a hostname: where the thread was. */
export interface Landing {
  what: string;
  ns: Record<NsType, number>;
}

/** The fake and what it saw. */
export interface FakeThread {
  libc: NsLibc;
  calls: string[];
  /** Target → namespace inode mounted there. */
  mounts: Map<string, number>;
  /** Writes, reads, hostnames and `lo up`s, with the thread's namespaces at the time. */
  landings: Landing[];
  /** The thread's namespaces now. */
  now(): Record<NsType, number>;
  /** fds opened and not closed. */
  openFds(): number[];
}

const TYPES: NsType[] = ["net", "ipc", "uts"];

/** Makes a fake thread at {@linkcode HOST}. */
export function fakeThread(options: FakeThreadOptions = {}): FakeThread {
  const calls: string[] = [];
  const cur: Record<NsType, number> = { ...HOST };
  const files = new Map<string, number>([
    [POD_NETNS, POD_NET_INODE],
    ...Object.entries(options.files ?? {}),
  ]);
  const mounts = new Map<string, number>();
  const fds = new Map<number, { type: NsType | undefined; inode: number }>();
  const landings: Landing[] = [];
  let nextFd = 10;
  let nextInode = 1000;

  const call = (label: string): number => {
    calls.push(label);
    if (options.throws?.includes(label)) throw new Error(`${label} threw`);
    return options.errors?.[label] ?? 0;
  };
  const threadType = (path: string): NsType | undefined =>
    TYPES.find((t) => path === `/proc/thread-self/ns/${t}`);
  const inodeOf = (path: string): number => {
    const t = threadType(path);
    if (t) return cur[t];
    const ino = mounts.get(path) ?? files.get(path);
    if (ino === undefined) throw new Error(`no such file "${path}"`);
    return ino;
  };
  const land = (what: string) => landings.push({ what, ns: { ...cur } });

  const libc: NsLibc = {
    open(path) {
      const e = call(`open ${path}`);
      if (e) return -e;
      const fd = nextFd++;
      fds.set(fd, { type: threadType(path), inode: inodeOf(path) });
      return fd;
    },
    close(fd) {
      fds.delete(fd);
      return call(`close ${fd}`);
    },
    unshare(flags) {
      const types = TYPES.filter((t) => (flags & CLONE_FLAGS[t]) !== 0);
      const e = call(`unshare ${types.join("+")}`);
      if (e) return e;
      if (!options.unshareStays) { for (const t of types) cur[t] = nextInode++; }
      return 0;
    },
    setns(fd, nstype) {
      const t = TYPES.find((x) => CLONE_FLAGS[x] === nstype)!;
      const target = fds.get(fd);
      if (!target) throw new Error(`setns on fd ${fd}, which is not open`);
      const e = call(`setns ${t} ${target.inode}`);
      if (e) return e;
      cur[t] = options.strands === t && target.inode === HOST[t] ? 999 : target.inode;
      return 0;
    },
    bindMount(source, target) {
      const t = threadType(source)!;
      const e = call(`mount ${t} ${target}`);
      if (e) return e;
      mounts.set(target, options.mountsNode ? HOST[t] : cur[t]);
      return 0;
    },
    unmountDetach(target) {
      mounts.delete(target);
      return call(`umount ${target}`);
    },
    inode: inodeOf,
    sethostname(name) {
      const e = call(`sethostname ${name}`);
      if (!e) land(`hostname ${name}`);
      return e;
    },
    loopbackUp() {
      const e = call("lo up");
      if (!e) land("lo up");
      return e;
    },
    writeFile(path, value) {
      const e = call(`write ${path}=${value}`);
      if (!e) land(`${path}=${value}`);
      return e;
    },
    readFile(path) {
      if (call(`read ${path}`)) throw new Error(`cannot read "${path}"`);
      land(`read ${path}`);
      return readText(path, cur.net);
    },
    strerror: (n) => `error ${n}`,
  };
  return {
    libc,
    calls,
    mounts,
    landings,
    now: () => ({ ...cur }),
    openFds: () => [...fds.keys()],
  };
}
