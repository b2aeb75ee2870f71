/**
 * PodSandboxStatus: the sandbox's state, network (no IP once stopped) and namespaces from the
 * store; no process is spawned. With `verbose`, `info` carries a JSON document of ocid's own
 * view. As ocid serves GetContainerEvents, it also sets what kubelet's evented PLEG reads here:
 * the statuses of the pod's containers and the time they were taken (ns), as CRI-O does with
 * pod events on.
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import type { Deps } from "./deps.ts";
import { podContainerStatuses } from "./container_status.ts";
import { nowNs } from "./time.ts";

/** Answers PodSandboxStatus. */
export async function podSandboxStatus(
  deps: Pick<Deps, "sandboxes" | "containers" | "images"> & {
    config?: Pick<Deps["config"], "pause">;
  },
  req: cri.PodSandboxStatusRequest,
): Promise<cri.PodSandboxStatusResponseInit> {
  if (!req.pod_sandbox_id) throw new InvalidArgumentError("Missing pod_sandbox_id");
  const sandbox = deps.sandboxes.get(req.pod_sandbox_id);
  const response: cri.PodSandboxStatusResponseInit = {
    status: sandboxStatus(sandbox),
    info: {},
    containers_statuses: podContainerStatuses(deps, sandbox.id),
    timestamp: nowNs(),
  };
  if (req.verbose) {
    const infra = (sandbox.metadata.holder ?? "infra") === "infra";
    response.info = {
      info: JSON.stringify({
        pid: sandbox.status.pid,
        conmonPid: sandbox.status.conmonPid,
        holder: sandbox.metadata.holder ?? "infra",
        netnsPath: sandbox.metadata.netnsPath,
        ipcPath: sandbox.metadata.ipcPath ?? "",
        utsPath: sandbox.metadata.utsPath ?? "",
        bundle: sandbox.metadata.bundle,
        runtimeHandler: sandbox.metadata.runtimeHandler,
        // The infra container's pause image (none: the node's pause binary; none for a pod
        // without an infra container).
        image: infra ? deps.config?.pause.image ?? "" : "",
        config: sandbox.metadata.config,
        networkResult: sandbox.status.networkResult ?? null,
        runtimeSpec: await runtimeSpec(sandbox, infra),
      }),
    };
  }
  return response;
}

/**
 * The pod's OCI spec as `crictl inspectp` users read it (`.info.runtimeSpec.linux.namespaces[]`
 * for the netns path, as under CRI-O and containerd): the infra container's `config.json`, or
 * for a pod without one the namespaces it pinned as files; null when the spec is gone.
 */
async function runtimeSpec(sandbox: SandboxRecord, infra: boolean): Promise<unknown> {
  const meta = sandbox.metadata;
  if (infra) {
    try {
      return JSON.parse(await Deno.readTextFile(join(meta.bundle, "config.json")));
    } catch {
      return null;
    }
  }
  const pinned: [string, string | undefined][] = [
    ["network", meta.netnsPath],
    ["ipc", meta.ipcPath],
    ["uts", meta.utsPath],
  ];
  return {
    ociVersion: "1.0.2",
    linux: {
      namespaces: pinned.filter(([, path]) => path).map(([type, path]) => ({ type, path })),
    },
  };
}

/**
 * The pod's IPs as the CRI reports them: none once its network is torn down (StopPodSandbox:
 * CNI DEL done, netns removed) or its netns was found gone at recovery, whatever the holder, as
 * containerd's `getIPs` gives none for a closed netns; none with host networking (none were
 * stored). The stored ones stay in the record (and the CNI result in verbose info); nothing
 * else reads them after stop: CNI DEL works from its cache.
 */
function reportedIps(sandbox: SandboxRecord): string[] {
  const { networkTornDown, netnsLost, ips } = sandbox.status;
  return networkTornDown || netnsLost ? [] : ips;
}

/** The CRI PodSandboxStatus of a record (PodSandboxStatus, and the pod in events). */
export function sandboxStatus(sandbox: SandboxRecord): cri.PodSandboxStatusInit {
  const config = sandbox.metadata.config;
  const [ip = "", ...more] = reportedIps(sandbox);
  return {
    id: sandbox.id,
    metadata: config.metadata,
    state: sandbox.status.state,
    created_at: sandbox.metadata.createdAt,
    network: { ip, additional_ips: more.map((ip) => ({ ip })) },
    linux: {
      namespaces: {
        options: config.linux?.security_context?.namespace_options ?? {
          network: "POD",
          pid: "CONTAINER",
          ipc: "POD",
          target_id: "",
          userns_options: null,
        },
      },
    },
    labels: config.labels ?? {},
    annotations: config.annotations ?? {},
    runtime_handler: sandbox.metadata.runtimeHandler,
  };
}
