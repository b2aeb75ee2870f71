/**
 * How a pod holds its namespaces: the one seam between the pod's lifecycle RPCs (RunPodSandbox,
 * StopPodSandbox, RemovePodSandbox, PodSandboxStatus), recovery and the garbage sweep on one
 * side, and the two ways of keeping a pod's namespaces alive on the other:
 *
 * - `infra` (`infra_holder.ts`): an infra (pause) container through conmon and the runtime
 *   owns the IPC, UTS and PID namespaces; containers join `/proc/<infra pid>/ns/*`. Pods that
 *   share a PID namespace need it (pause is PID 1 and reaps zombies), and every pod when
 *   `drop_infra_ctr = false`.
 * - `pinned` (`pinned_holder.ts`): no process at all; the IPC and UTS namespaces are pinned as
 *   bind-mounted files beside the network namespace (CRI-O's `drop_infra_ctr`), and containers
 *   join them by path.
 *
 * The choice is made once per pod ({@linkcode chooseHolderKind}) and recorded in the sandbox
 * record (`metadata.holder`; a record without it is `infra`, as every pod was before).
 *
 * @module
 */
import type { PodSandboxConfig } from "../cri/types.ts";
import type { SandboxRecord } from "../store/sandbox.ts";

/** The kinds of holder. */
export type HolderKind = "infra" | "pinned";

/** What a holder needs to make a pod's namespaces (RunPodSandbox has made the rest). */
export interface HolderCreateRequest {
  id: string;
  /** The sandbox's name (conmon's `-n`). */
  name: string;
  config: PodSandboxConfig;
  /**
   * The sysctls to set in the pod's namespaces: its own with the node's `default_sysctls`
   * (`podSysctls` of `src/spec/sysctl.ts`), validated against its namespace modes.
   */
  sysctls: Readonly<Record<string, string>>;
  /** The sandbox's persistent dir (the infra bundle). */
  bundle: string;
  /** The pod's hostname, as written to `hostnamePath`. */
  hostname: string;
  hostnamePath: string;
  resolvPath: string;
  hostsPath: string;
  /** The pod's /dev/shm; absent with host IPC. */
  shmPath?: string;
  /** The pod's network namespace; absent with host network. */
  netnsPath?: string;
  cgroupParent: string;
  logDirectory: string;
  /** The pod's RuntimeClass handler ("" is the default runtime). */
  runtimeHandler: string;
  /** Undo steps of resources made on the way (e.g. a pause image rootfs) go here. */
  stack: AsyncDisposableStack;
}

/** What a holder made: recorded in the sandbox record. */
export interface HeldNamespaces {
  /** The infra process; 0 without one. */
  pid: number;
  /** Its conmon; 0 without one. */
  conmonPid: number;
  /** Pinned namespace files; absent when not pinned. */
  ipcPath?: string;
  utsPath?: string;
  /** The image the infra rootfs is an overlay of (`pause.image`); absent otherwise. */
  imageId?: string;
}

/** Namespaces of the pod that its containers join by path. */
export interface HeldNamespacePaths {
  ipc?: string;
  uts?: string;
  /** The pod's PID namespace (only an infra process has one). */
  pid?: string;
}

/** Keeps a pod's namespaces alive; see the module doc. */
export interface PodNamespaceHolder {
  readonly kind: HolderKind;
  /**
   * Makes the namespaces (the infra container is created, not started). The caller registers
   * {@linkcode undoCreate} once this resolves.
   */
  create(req: HolderCreateRequest): Promise<HeldNamespaces>;
  /** Undoes `create` of sandbox `id` (RunPodSandbox failed later). */
  undoCreate(id: string): Promise<void>;
  /**
   * Makes the pod run (starts the infra process); after the network is wired. `held` is what
   * `create` made, and `bundle` the sandbox dir it was made in.
   */
  start(id: string, held: HeldNamespaces & { bundle: string }): Promise<void>;
  /**
   * The namespaces containers join.
   *
   * @throws {FailedPreconditionError} When the holder has nothing to join (infra gone).
   */
  namespacePaths(sandbox: SandboxRecord): HeldNamespacePaths;
  /**
   * Whether the namespaces are still held (recovery after a restart).
   *
   * @param runtimeStatus The runtime's status of the sandbox ID (`runc list`), if it has one.
   */
  alive(sandbox: SandboxRecord, runtimeStatus: string | undefined): Promise<boolean>;
  /** Lets go of the namespaces (StopPodSandbox): the infra process ends, pins go. */
  release(sandbox: SandboxRecord): Promise<void>;
  /** Removes what is left once released (RemovePodSandbox): runtime state, files. */
  remove(sandbox: SandboxRecord): Promise<void>;
}

/** The holders of this daemon: chooses one for a new pod, finds a pod's. */
export interface PodHolders {
  /** The holder a new pod with this config gets. */
  choose(config: PodSandboxConfig): PodNamespaceHolder;
  /** The holder a recorded pod has. */
  of(sandbox: SandboxRecord): PodNamespaceHolder;
  /** Namespaces pinned for IDs: the sweep removes those no record owns. */
  pinned: { list(): Promise<string[]>; unpin(id: string): Promise<void> };
}

/**
 * Which holder a pod gets: `pinned` unless infra containers are kept for every pod
 * (`drop_infra_ctr = false`) or the pod shares a PID namespace (`pid` POD, the proto's default).
 *
 * @param config The pod's config.
 * @param dropInfra The `drop_infra_ctr` setting.
 */
export function chooseHolderKind(config: PodSandboxConfig, dropInfra: boolean): HolderKind {
  if (!dropInfra) return "infra";
  const ns = config.linux?.security_context?.namespace_options ?? null;
  if ((ns?.pid ?? "POD") === "POD") return "infra";
  return "pinned";
}

/**
 * Makes the {@linkcode PodHolders} of a daemon from its two holders.
 *
 * @param holders The infra and pinned holders, and the pinned namespaces store.
 * @param dropInfra The `drop_infra_ctr` setting.
 */
export function podHolders(
  holders: { infra: PodNamespaceHolder; pinned: PodNamespaceHolder },
  pinned: PodHolders["pinned"],
  dropInfra: boolean,
): PodHolders {
  return {
    choose: (config) => holders[chooseHolderKind(config, dropInfra)],
    of: (sandbox) => holders[sandbox.metadata.holder ?? "infra"],
    pinned,
  };
}
