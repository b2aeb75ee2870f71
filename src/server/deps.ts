/**
 * Everything the RPC handlers may use. The composition root (`src/daemon.ts`) builds one;
 * each handler declares the subset it needs with `Pick<Deps, ...>`, so a test can pass fakes.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../process.ts";
import type { KeyedMutex } from "../lock.ts";
import type { OciRuntime } from "../oci/mod.ts";
import type { NetnsManager, NetworkPlugin } from "../network/mod.ts";
import type { ContainerStore, SandboxStore } from "../store/mod.ts";
import type { ExitHub } from "../exit_hub.ts";
import type { MemoryRelease } from "../memory_release.ts";
import type { ImageService } from "../image/mod.ts";
import type { StreamUrls } from "../stream/types.ts";
import type { ContainerEventBus } from "./container_events.ts";

/** The daemon's parts, as handlers see them. */
export interface Deps {
  config: Config;
  log: Logger;
  runner: Runner;
  locks: KeyedMutex;
  runtime: OciRuntime;
  network: NetworkPlugin;
  netns: NetnsManager;
  sandboxes: SandboxStore;
  containers: ContainerStore;
  exits: ExitHub;
  images: ImageService;
  /** Container and sandbox lifecycle events, for GetContainerEvents. */
  events: ContainerEventBus;
  /** The streaming server (Exec, Attach, PortForward URLs); absent: those RPCs are UNAVAILABLE. */
  streams?: StreamUrls;
  /** The shared read-only infra rootfs. */
  infraRootfs: string;
  /** Our own oom_score_adj, the floor for requested values when restricted. */
  ownOomScoreAdj: number;
  /** Gives the allocator's free memory back after large replies; absent: never. */
  memory?: MemoryRelease;
}
