/**
 * Pod sandbox records and their state machine.
 *
 * ```
 *  RunPodSandbox
 *       |
 *       v
 *  SANDBOX_READY --StopPodSandbox / infra exited / restart found it dead--> SANDBOX_NOTREADY
 *       |                                                                         |
 *       +--RemovePodSandbox (stops it first)--------------------------------------+
 *                                                                                 v
 *                                                                             (removed)
 * ```
 *
 * The record's `id` and `name` are the store's (`record.id`, `record.name`); metadata holds
 * the rest of what never changes, status what does.
 *
 * @module
 */
import { FailedPreconditionError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { PodSandboxConfig } from "../cri/types.ts";
import { type RawRecord, type RecordFs, RecordStore, type StoreRecord } from "./store.ts";

/** A sandbox's CRI state. */
export type SandboxState = "SANDBOX_READY" | "SANDBOX_NOTREADY";

/** What never changes about a sandbox. Paths are "" when the sandbox has none. */
export interface SandboxMetadata {
  /** The CRI PodSandboxConfig as received (decoded by proto-loader; JSON-safe). */
  config: PodSandboxConfig;
  /** Creation time, ns since the epoch. */
  createdAt: string;
  /** The CRI runtime handler ("" for the default). */
  runtimeHandler: string;
  /** The pod's network namespace (a bind mount); "" or absent with host networking. */
  netnsPath?: string;
  /** The pod's /dev/shm mount; "" or absent when it shares the host's IPC. */
  shmPath?: string;
  /** Where container logs of this pod go. */
  logDirectory: string;
  /** The infra container's OCI bundle (also the record's directory). */
  bundle: string;
  /** The pod's volatile directory under the runroot. */
  runDir: string;
  /** The cgroup parent of the pod. */
  cgroupParent: string;
  /** The pod's hostname. */
  hostname?: string;
  /** How the pod holds its namespaces (`src/sandbox/holder.ts`); absent: "infra". */
  holder?: "infra" | "pinned";
  /** The pod's pinned IPC namespace (no infra process); absent otherwise. */
  ipcPath?: string;
  /** The pod's pinned UTS namespace (no infra process); absent otherwise. */
  utsPath?: string;
  /**
   * The image the infra container's rootfs is an overlay of (`pause.image`), which cannot be
   * removed while the pod is; absent with the built-in pause rootfs or no infra container.
   */
  imageId?: string;
}

/** What changes about a sandbox. */
export interface SandboxStatus {
  /** The CRI state. */
  state: SandboxState;
  /** PID of the infra (pause) process; 0 when unknown, gone or none (pinned namespaces). */
  pid: number;
  /** PID of the infra container's conmon; 0 when none. */
  conmonPid: number;
  /** The pod's IPs, primary first; [] with host networking or before networking. */
  ips: string[];
  /** The CNI result of ADD, kept for DEL (`prevResult`) and verbose status. */
  networkResult?: unknown;
  /** True once the infra process is known to have exited. */
  infraExited?: boolean;
  /** True once CNI DEL succeeded and the netns is gone. */
  networkTornDown?: boolean;
  /**
   * True when recovery found the netns file gone but CNI DEL failed: the pod has no network
   * any more (no IP is reported), while DEL is still owed (StopPodSandbox runs it again).
   */
  netnsLost?: boolean;
  /** When the sandbox stopped, ns since the epoch. */
  stoppedAt?: string;
}

/** A stored sandbox. */
export type SandboxRecord = StoreRecord<SandboxMetadata, SandboxStatus>;

/** The store of sandboxes. */
export type SandboxStore = RecordStore<SandboxMetadata, SandboxStatus>;

/** Options of {@linkcode createSandboxStore}. */
export interface SandboxStoreOptions {
  /** File operations. @default denoRecordFs */
  fs?: RecordFs;
  /** Where skipped records are reported. @default nullLogger */
  logger?: Logger;
}

const STATES: readonly SandboxState[] = ["SANDBOX_READY", "SANDBOX_NOTREADY"];

function validate(raw: RawRecord): { metadata: SandboxMetadata; status: SandboxStatus } {
  const m = raw.metadata as Partial<SandboxMetadata> | null;
  const s = raw.status as Partial<SandboxStatus> | null;
  if (typeof m !== "object" || m === null || typeof m.createdAt !== "string") {
    throw new TypeError("sandbox metadata lacks createdAt");
  }
  if (typeof s !== "object" || s === null || !STATES.includes(s.state as SandboxState)) {
    throw new TypeError(`unknown sandbox state ${JSON.stringify(s?.state)}`);
  }
  if (!Array.isArray(s.ips)) throw new TypeError("sandbox status lacks ips");
  return { metadata: m as SandboxMetadata, status: s as SandboxStatus };
}

/**
 * Creates the sandbox store: records in `<dir>/<id>/sandbox.json`. Call `load()` at start.
 *
 * @param dir e.g. `<root>/sandboxes`
 */
export function createSandboxStore(dir: string, options: SandboxStoreOptions = {}): SandboxStore {
  return new RecordStore(dir, { kind: "pod sandbox", file: "sandbox.json", validate, ...options });
}

/** The status of a sandbox that has just started. */
export function newSandboxStatus(
  init: Partial<SandboxStatus> = {},
): SandboxStatus {
  return { state: "SANDBOX_READY", pid: 0, conmonPid: 0, ips: [], ...init };
}

/** True when the sandbox is ready (StopPodSandbox has work to do). */
export function isSandboxReady(status: Readonly<SandboxStatus>): boolean {
  return status.state === "SANDBOX_READY";
}

/** True when StopPodSandbox would change something; stopping a stopped pod is a no-op. */
export function canStopSandbox(status: Readonly<SandboxStatus>): boolean {
  return status.state === "SANDBOX_READY";
}

/** True when the sandbox may be removed now (else stop it first). */
export function canRemoveSandbox(status: Readonly<SandboxStatus>): boolean {
  return status.state === "SANDBOX_NOTREADY";
}

/** True when containers may be created in the sandbox. */
export function canCreateContainerIn(status: Readonly<SandboxStatus>): boolean {
  return status.state === "SANDBOX_READY";
}

/**
 * The status after the sandbox stopped. Stopping twice keeps the first stop time.
 *
 * @param status the current status
 * @param options `stoppedAt` in ns since the epoch
 */
export function sandboxStopped(
  status: Readonly<SandboxStatus>,
  options: { stoppedAt: string },
): SandboxStatus {
  if (status.state === "SANDBOX_NOTREADY") return { ...status };
  return { ...status, state: "SANDBOX_NOTREADY", pid: 0, stoppedAt: options.stoppedAt };
}

/**
 * Throws unless containers may be created in the sandbox.
 *
 * @throws {FailedPreconditionError} `Pod sandbox "abc" is not ready`
 */
export function assertSandboxReady(record: SandboxRecord): void {
  if (!canCreateContainerIn(record.status)) {
    throw new FailedPreconditionError(
      `Pod sandbox "${record.id}" is ${record.status.state}; only a ready pod can run containers`,
    );
  }
}
