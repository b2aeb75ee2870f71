/**
 * StopPodSandbox: stop the pod's containers, let the pod's holder go of its namespaces (the
 * infra process ends, SIGTERM then SIGKILL, or the pinned IPC/UTS namespaces are unpinned),
 * tear the network down (CNI DEL, netns removed), unmount /dev/shm, mark NOTREADY. Idempotent:
 * stopping a stopped or unknown sandbox succeeds.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { NotFoundError } from "../errors.ts";
import { unmount } from "../mounts.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import type { Deps } from "./deps.ts";
import { stopContainerProcess } from "./container_stop.ts";
import { withContainerLock } from "./container_lock.ts";
import { crashPoint } from "../crash.ts";
import { publishSandboxEvent } from "./container_events.ts";
import { podPortMappings } from "./pod_ports.ts";
import { settleAll } from "../settle.ts";

/** What StopPodSandbox uses. */
export type StopPodSandboxDeps = Pick<
  Deps,
  | "log"
  | "runner"
  | "locks"
  | "runtime"
  | "network"
  | "netns"
  | "sandboxes"
  | "containers"
  | "exits"
  | "cleanups"
  | "events"
  | "images"
  | "holders"
  | "stops"
>;

/** Stops a pod sandbox; see the module doc. */
export async function stopPodSandbox(
  deps: StopPodSandboxDeps,
  req: cri.StopPodSandboxRequest,
): Promise<cri.StopPodSandboxResponseInit> {
  const sandbox = findOrUndefined(deps, req.pod_sandbox_id);
  if (!sandbox) {
    deps.log.info("StopPodSandbox: no such sandbox, nothing to do", { id: req.pod_sandbox_id });
    return {};
  }
  using _ = await deps.locks.lock(`sandbox:${sandbox.id}`);
  await stopSandbox(deps, sandbox.id);
  return {};
}

/** Stops the sandbox `id` (its containers, holder, network); the caller holds its lock. */
export async function stopSandbox(deps: StopPodSandboxDeps, id: string): Promise<void> {
  // Every container's stop starts at once: the runtime bounds its verbs (`kill`, `state`,
  // `delete`) across the daemon, so a pod of 300 running containers runs a few runc at a time.
  // Each stop runs to its end; the first failure, in the containers' order, is thrown after.
  await settleAll(
    deps.containers.list()
      .filter((c) => c.metadata.sandboxId === id)
      .map((c) => withContainerLock(deps, c.id, () => stopContainerProcess(deps, c.id, 0))),
  );
  crashPoint("sandbox_stop:after_containers");

  const sandbox = deps.sandboxes.get(id);
  const meta = sandbox.metadata;
  const netnsPath = sandbox.status.networkTornDown ? undefined : meta.netnsPath;
  // The holder and /dev/shm take no part in the network's teardown (the netns is a file of its
  // own in both holder modes): they are let go while CNI DEL, a child process, runs.
  const release = async () => {
    if (!sandbox.status.infraExited) await deps.holders.of(sandbox).release(sandbox);
    crashPoint("sandbox_stop:after_infra");
    if (meta.shmPath) await unmount(deps.runner, meta.shmPath);
  };
  const tearDown = async () => {
    if (!netnsPath) return;
    await deps.network.tearDown({
      id,
      netnsPath,
      podName: meta.config.metadata?.name ?? "",
      podNamespace: meta.config.metadata?.namespace ?? "",
      podUid: meta.config.metadata?.uid ?? "",
      portMappings: podPortMappings(meta.config),
    });
  };
  // Both run to their end before anything is reported, a failure of either included.
  await settleAll([release(), tearDown()]);
  if (netnsPath) {
    // After the holder went too: a crash from here on leaves a pod that recovers NOTREADY.
    crashPoint("sandbox_stop:after_cni");
    await deps.netns.remove(netnsPath);
  }
  let stopped = false;
  const updated = await deps.sandboxes.update(id, (s) => {
    // Stopped before (RemovePodSandbox stops again): nothing to write.
    if (s.state === "SANDBOX_NOTREADY" && s.networkTornDown && s.infraExited) return s;
    stopped = s.state === "SANDBOX_READY";
    return { ...s, state: "SANDBOX_NOTREADY", networkTornDown: true, infraExited: true };
  });
  if (stopped) publishSandboxEvent(deps, "CONTAINER_STOPPED_EVENT", updated);
}

/** The sandbox named by an ID or unique prefix, or undefined when none matches. */
export function findOrUndefined(
  deps: Pick<Deps, "sandboxes">,
  idOrPrefix: string,
): SandboxRecord | undefined {
  if (!idOrPrefix) return undefined;
  try {
    return deps.sandboxes.get(idOrPrefix);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}
