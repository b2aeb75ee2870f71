/**
 * Container records and their state machine.
 *
 * ```
 *  CreateContainer
 *       |
 *       v
 *  CONTAINER_CREATED --StartContainer--> CONTAINER_RUNNING
 *       |                                    |
 *       | start failed                       | process exited / StopContainer
 *       v                                    v
 *  CONTAINER_EXITED <------------------------+
 *       |
 *       | RemoveContainer
 *       v
 *   (removed)
 *
 *  CONTAINER_UNKNOWN: the state could not be determined (e.g. on restart the runtime did not
 *  answer). Stop moves it to EXITED; Remove stops it first.
 * ```
 *
 * The record's `id` and `name` are the store's (`record.id`, `record.name`); metadata holds
 * the rest of what never changes, status what does. Times are ns since the epoch as strings,
 * "0" when not yet.
 *
 * @module
 */
import { FailedPreconditionError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ContainerConfig, LinuxContainerResources } from "../cri/types.ts";
import { type RawRecord, type RecordFs, RecordStore, type StoreRecord } from "./store.ts";

/** A container's CRI state. */
export type ContainerState =
  | "CONTAINER_CREATED"
  | "CONTAINER_RUNNING"
  | "CONTAINER_EXITED"
  | "CONTAINER_UNKNOWN";

/** What never changes about a container. */
export interface ContainerMetadata {
  /** ID of the pod sandbox it belongs to. */
  sandboxId: string;
  /** The CRI ContainerConfig as received (decoded by proto-loader; JSON-safe). */
  config: ContainerConfig;
  /** The image as the request named it (`busybox:latest`). */
  imageRef: string;
  /** The resolved image ID (`sha256:...`). */
  imageId: string;
  /** The IDs of the images its image volumes mount (`Mount.image`), if any. */
  volumeImageIds?: string[];
  /** Absolute path of the CRI log file. */
  logPath: string;
  /** The OCI bundle directory. */
  bundle: string;
  /**
   * Whether the container has a PID namespace of its own (`namespace_options.pid` CONTAINER):
   * then its init's end ends every process in it. Absent in records made before it was kept.
   */
  ownPidNamespace?: boolean;
  /** Creation time, ns since the epoch. */
  createdAt: string;
  /** Signal name for StopContainer (from the image's StopSignal), e.g. "TERM"; "" for TERM. */
  stopSignal?: string;
  /** The process's resolved user (numeric ids), for ContainerStatus.user. */
  user?: { uid: number; gid: number; additionalGids: number[] };
}

/** What changes about a container. */
export interface ContainerStatus {
  /** The CRI state. */
  state: ContainerState;
  /** PID of the container's init process; 0 when not running. */
  pid: number;
  /** PID of its conmon; 0 when none. */
  conmonPid: number;
  /**
   * The init's start time (`/proc/<pid>/stat`, read at create): with `pid`, how the init is
   * told from a process that reused its pid (`src/oci/direct_kill.ts`). Absent in records made
   * before it was kept, or when it could not be read.
   */
  pidStartTime?: string;
  /** ns since the epoch; "0" before start. */
  startedAt: string;
  /** ns since the epoch; "0" before exit. */
  finishedAt: string;
  /** Exit status; meaningful once exited. */
  exitCode: number;
  /** Short CamelCase reason ("Completed", "Error", "OOMKilled", "StartError"); "" when none. */
  reason: string;
  /** Human-readable details; "" when none. */
  message: string;
  /** The CRI resources last applied by UpdateContainerResources; absent: those of the config. */
  resources?: LinuxContainerResources;
}

/** A stored container. */
export type ContainerRecord = StoreRecord<ContainerMetadata, ContainerStatus>;

/** The store of containers. */
export type ContainerStore = RecordStore<ContainerMetadata, ContainerStatus>;

/** Options of {@linkcode createContainerStore}. */
export interface ContainerStoreOptions {
  /** File operations. @default denoRecordFs */
  fs?: RecordFs;
  /** Where skipped records are reported. @default nullLogger */
  logger?: Logger;
}

const STATES: readonly ContainerState[] = [
  "CONTAINER_CREATED",
  "CONTAINER_RUNNING",
  "CONTAINER_EXITED",
  "CONTAINER_UNKNOWN",
];

function validate(raw: RawRecord): { metadata: ContainerMetadata; status: ContainerStatus } {
  const m = raw.metadata as Partial<ContainerMetadata> | null;
  const s = raw.status as Partial<ContainerStatus> | null;
  if (typeof m !== "object" || m === null || typeof m.sandboxId !== "string") {
    throw new TypeError("container metadata lacks sandboxId");
  }
  if (typeof s !== "object" || s === null || !STATES.includes(s.state as ContainerState)) {
    throw new TypeError(`unknown container state ${JSON.stringify(s?.state)}`);
  }
  return { metadata: m as ContainerMetadata, status: s as ContainerStatus };
}

/**
 * Creates the container store: records in `<dir>/<id>/container.json`. Call `load()` at
 * start.
 *
 * @param dir e.g. `<root>/containers`
 */
export function createContainerStore(
  dir: string,
  options: ContainerStoreOptions = {},
): ContainerStore {
  return new RecordStore(dir, { kind: "container", file: "container.json", validate, ...options });
}

/** The status of a container that has just been created. */
export function newContainerStatus(init: Partial<ContainerStatus> = {}): ContainerStatus {
  return {
    state: "CONTAINER_CREATED",
    pid: 0,
    conmonPid: 0,
    startedAt: "0",
    finishedAt: "0",
    exitCode: 0,
    reason: "",
    message: "",
    ...init,
  };
}

/** True when StartContainer may run: only a created container starts. */
export function canStartContainer(status: Readonly<ContainerStatus>): boolean {
  return status.state === "CONTAINER_CREATED";
}

/** True when StopContainer has work to do; stopping a created or exited container is a no-op. */
export function canStopContainer(status: Readonly<ContainerStatus>): boolean {
  return status.state === "CONTAINER_RUNNING" || status.state === "CONTAINER_UNKNOWN";
}

/** True when the container may be removed now (else stop it first). */
export function canRemoveContainer(status: Readonly<ContainerStatus>): boolean {
  return status.state === "CONTAINER_CREATED" || status.state === "CONTAINER_EXITED";
}

/** True when exec, attach and port-forward may run. */
export function canExecInContainer(status: Readonly<ContainerStatus>): boolean {
  return status.state === "CONTAINER_RUNNING";
}

/** True when UpdateContainerResources may run. */
export function canUpdateContainer(status: Readonly<ContainerStatus>): boolean {
  return status.state === "CONTAINER_CREATED" || status.state === "CONTAINER_RUNNING";
}

/**
 * The status after a successful start.
 *
 * @throws {FailedPreconditionError} unless the container is created
 */
export function containerStarted(
  status: Readonly<ContainerStatus>,
  options: { pid: number; startedAt: string },
): ContainerStatus {
  if (!canStartContainer(status)) {
    throw new FailedPreconditionError(
      `Cannot start a container in state ${status.state}; only a created container can start`,
    );
  }
  return { ...status, state: "CONTAINER_RUNNING", pid: options.pid, startedAt: options.startedAt };
}

/** Options of {@linkcode containerExited}. */
export interface ContainerExitedOptions {
  /** Exit status of the process (128+signal when killed). */
  exitCode: number;
  /** ns since the epoch (the exit file's mtime). */
  finishedAt: string;
  /** Short CamelCase reason. @default "Completed" for exit code 0, else "Error" */
  reason?: string;
  /** Human-readable details. @default "" */
  message?: string;
}

/**
 * The status after the container's process exited (or never started). The first exit wins:
 * an exited container stays as it is.
 */
export function containerExited(
  status: Readonly<ContainerStatus>,
  options: ContainerExitedOptions,
): ContainerStatus {
  if (status.state === "CONTAINER_EXITED") return { ...status };
  return {
    ...status,
    state: "CONTAINER_EXITED",
    pid: 0,
    exitCode: options.exitCode,
    finishedAt: options.finishedAt,
    reason: options.reason ?? (options.exitCode === 0 ? "Completed" : "Error"),
    message: options.message ?? "",
  };
}

/** The status when the container's state cannot be determined. Exited stays exited. */
export function containerUnknown(
  status: Readonly<ContainerStatus>,
  options: { reason?: string; message?: string } = {},
): ContainerStatus {
  if (status.state === "CONTAINER_EXITED") return { ...status };
  return {
    ...status,
    state: "CONTAINER_UNKNOWN",
    reason: options.reason ?? "Unknown",
    message: options.message ?? status.message,
  };
}
