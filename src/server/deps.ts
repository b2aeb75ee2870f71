/**
 * Everything the RPC handlers may use. The composition root (`src/daemon.ts`) builds one;
 * each handler declares the subset it needs with `Pick<Deps, ...>`, so a test can pass fakes.
 *
 * @module
 */
import type { OciHookDirs } from "../spec/oci_hooks.ts";
import type { CgroupLayout } from "../cgroups/layout.ts";
import type { CgroupSupport } from "../cgroups/support.ts";
import type { Config } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../process.ts";
import type { KeyedMutex } from "../lock.ts";
import type { OciRuntime } from "../oci/mod.ts";
import type { NetnsManager, NetworkPlugin } from "../network/mod.ts";
import type { ContainerStore, SandboxStore } from "../store/mod.ts";
import type { ExitHub } from "../exit_hub.ts";
import type { PendingStops } from "./pending_stops.ts";
import type { ExitCleanup } from "../exit_cleanup.ts";
import type { ImageService } from "../image/mod.ts";
import type { StreamUrls } from "../stream/types.ts";
// The bus's type is spelled out here, not imported from container_events.ts: that module uses
// Deps, and a type import back would close a cycle (deps <-> container_events).
import type { EventBus } from "../events.ts";
import type { ContainerEventResponseInit } from "../cri/types.ts";
import type { HostCapabilities } from "../host/capabilities.ts";
import type { MetricsRecorder } from "../metrics/recorder.ts";
import type { PodHolders } from "../sandbox/holder.ts";
import type { RuntimeFeatures } from "../oci/runtime_features.ts";
import type { NetnsReader } from "../sys/netns_pinner.ts";

/** The daemon's parts, as handlers see them. */
export interface Deps {
  config: Config;
  log: Logger;
  runner: Runner;
  locks: KeyedMutex;
  runtime: OciRuntime;
  network: NetworkPlugin;
  netns: NetnsManager;
  /**
   * Reads files inside pinned network namespaces in-process (the netns pinner, with libc);
   * absent where namespaces are made by programs (OCID_NETNS=exec): a pod without any process
   * then has no network counters.
   */
  netnsReader?: NetnsReader;
  sandboxes: SandboxStore;
  containers: ContainerStore;
  exits: ExitHub;
  /** The StopContainer calls waiting on a stop signal, which a shorter one brings forward. */
  stops: PendingStops;
  /** The runtime delete and rootfs unmount after an exit, started when it is recorded. */
  cleanups: ExitCleanup;
  images: ImageService;
  /** Container and sandbox lifecycle events, for GetContainerEvents. */
  events: EventBus<ContainerEventResponseInit>;
  /** The streaming server (Exec, Attach, PortForward URLs); absent: those RPCs are UNAVAILABLE. */
  streams?: StreamUrls;
  /** The shared read-only infra rootfs. */
  infraRootfs: string;
  /** How pods hold their namespaces: an infra process or pinned files. */
  holders: PodHolders;
  /** Our own oom_score_adj, the floor for requested values when restricted. */
  ownOomScoreAdj: number;
  /** The daemon's capability bounding set: all a container may hold. */
  hostCapabilities: HostCapabilities;
  /** Whether the node runs AppArmor (probed at start): Localhost profiles need it. */
  appArmorEnabled: boolean;
  /** The node's OCI hook files (`hooks_dir`), read again when they change. */
  ociHooks: OciHookDirs;
  /** The node's RuntimeDefault seccomp profile (`seccomp_profile`, read at start), if any. */
  runtimeDefaultSeccomp?: { path: string; text: string };
  /** What this machine's cgroups can enforce (probed at start); other limits are dropped. */
  cgroupSupport: CgroupSupport;
  /** Where this machine's cgroup hierarchies are mounted (read at start). */
  cgroupLayout: CgroupLayout;
  /**
   * What each runtime handler can honour, by handler name (probed at start); a handler missing
   * here has none of the features.
   */
  runtimeFeatures: ReadonlyMap<string, RuntimeFeatures>;
  /** Image pulls and OOM kills are counted here; absent: not counted. */
  metrics?: MetricsRecorder;
}
