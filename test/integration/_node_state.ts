/**
 * Shared by the recovery, crash, concurrency and cycles tests: pod and container configs,
 * polling, and a snapshot of everything a daemon can leave on the node (netns, mounts, CNI
 * allocations, processes, runtime state, dirs) to compare before and after.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call, type CriClients } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { mountsUnder, pidsMentioning, type TestDirs } from "../helpers/daemon.ts";
import { alive, allocatedIps, listDir } from "../helpers/checks.ts";

export { alive, allocatedIps, listDir, pushBusybox, waitFor } from "../helpers/checks.ts";

/** A pod config on the POD network with its own /dev/shm. */
export function podConfig(name: string, namespace: string): cri.PodSandboxConfigInit {
  return {
    metadata: { name, namespace, uid: `uid-${namespace}-${name}`, attempt: 0 },
    hostname: name,
    linux: {
      cgroup_parent: `/ocid-${namespace}`,
      security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
    },
  };
}

/** Runs a pod and returns its ID. */
export async function runPod(clients: CriClients, config: cri.PodSandboxConfigInit) {
  return (await call(clients.runtime, "RunPodSandbox", { config }, { deadlineMs: 120_000 }))
    .pod_sandbox_id;
}

/** Stops and removes every pod the daemon knows. */
export async function removeAllPods(clients: CriClients): Promise<void> {
  const pods = (await call(clients.runtime, "ListPodSandbox", {})).items;
  for (const pod of pods) {
    await call(clients.runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, {
      deadlineMs: 60_000,
    });
    await call(clients.runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, {
      deadlineMs: 60_000,
    });
  }
}

/** Everything a daemon's pods can leave on the node. */
export interface NodeState {
  netns: string[];
  /** Pinned IPC/UTS namespace dirs (pods without an infra process). */
  podns: string[];
  mounts: string[];
  ips: string[];
  /** Processes (other than the daemon) whose command line names the test's dirs. */
  processes: string[];
  runtimeState: string[];
  sandboxDirs: string[];
  runSandboxDirs: string[];
  containerDirs: string[];
  containerMetaDirs: string[];
  cniCache: string[];
  exitFiles: string[];
  socketDirs: string[];
  imageTmp: string[];
}

/** Takes a {@linkcode NodeState} of the daemon on `dirs` (whose pid is `daemonPid`). */
export async function nodeState(dirs: TestDirs, daemonPid = 0): Promise<NodeState> {
  const processes: string[] = [];
  for (const pid of await pidsMentioning(dirs.base)) {
    if (pid === daemonPid || !alive(pid)) continue;
    const cmd = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    // The daemon itself and its children that are not pods' (none expected) are excluded.
    if (cmd.includes("src/main.ts")) continue;
    if (cmd !== "") processes.push(`${pid} ${cmd.replaceAll("\0", " ").slice(0, 120)}`);
  }
  return {
    netns: await listDir(join(dirs.runroot, "netns")),
    podns: await listDir(join(dirs.runroot, "podns")),
    mounts: (await mountsUnder(dirs.base)).filter((m) =>
      m !== join(dirs.runroot, "netns") && m !== join(dirs.runroot, "podns")
    ),
    ips: await allocatedIps(dirs.cniDataDir),
    processes,
    runtimeState: await listDir(join(dirs.runroot, "runc")),
    sandboxDirs: await listDir(join(dirs.root, "sandboxes")),
    runSandboxDirs: await listDir(join(dirs.runroot, "sandboxes")),
    containerDirs: await listDir(join(dirs.root, "containers")),
    containerMetaDirs: await listDir(join(dirs.root, "containers-meta")),
    cniCache: await listDir(join(dirs.root, "cni-cache")),
    exitFiles: await listDir(join(dirs.runroot, "exits")),
    socketDirs: await listDir(join(dirs.runroot, "socket")),
    imageTmp: await listDir(join(dirs.root, "images", "tmp")),
  };
}

/** Asserts that nothing of any pod is left on the node. */
export async function assertNodeClean(dirs: TestDirs, daemonPid: number, what: string) {
  const state = await nodeState(dirs, daemonPid);
  const empty: NodeState = {
    netns: [],
    podns: [],
    mounts: [],
    ips: [],
    processes: [],
    runtimeState: [],
    sandboxDirs: [],
    runSandboxDirs: [],
    containerDirs: [],
    containerMetaDirs: [],
    cniCache: [],
    exitFiles: [],
    socketDirs: [],
    imageTmp: [],
  };
  assert.deepEqual(state, empty, `${what}: the node is not clean`);
}
