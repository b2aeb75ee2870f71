/**
 * In-memory stores of pod sandboxes and containers, checkpointed to disk: prefix lookup of
 * IDs, name reservation, atomic writes, and the state machines of both.
 *
 * ```ts
 * const sandboxes = createSandboxStore(join(config.root, "sandboxes"), { logger });
 * await sandboxes.load();
 * await sandboxes.update(id, (s) => sandboxStopped(s, { stoppedAt: nowNanos() }));
 * ```
 *
 * @module
 */
export { IdIndex, type IdIndexOptions } from "./id_index.ts";
export { NameRegistry, type NameRegistryOptions } from "./name_registry.ts";
export { readJsonFile, syncDir, writeFileAtomic, type WriteFileAtomicOptions } from "./atomic.ts";
export { dateToNanos, nowNanos } from "./time.ts";
export {
  denoRecordFs,
  type LoadReport,
  type RawRecord,
  RECORD_VERSION,
  type RecordFs,
  RecordStore,
  type RecordStoreOptions,
  type SkippedRecord,
  type StoreRecord,
} from "./store.ts";
export {
  assertSandboxReady,
  canCreateContainerIn,
  canRemoveSandbox,
  canStopSandbox,
  createSandboxStore,
  isSandboxReady,
  newSandboxStatus,
  type SandboxMetadata,
  type SandboxRecord,
  type SandboxState,
  type SandboxStatus,
  sandboxStopped,
  type SandboxStore,
  type SandboxStoreOptions,
} from "./sandbox.ts";
export {
  canExecInContainer,
  canRemoveContainer,
  canStartContainer,
  canStopContainer,
  canUpdateContainer,
  containerExited,
  type ContainerExitedOptions,
  type ContainerMetadata,
  type ContainerRecord,
  containerStarted,
  type ContainerState,
  type ContainerStatus,
  type ContainerStore,
  type ContainerStoreOptions,
  containerUnknown,
  createContainerStore,
  newContainerStatus,
} from "./container.ts";
