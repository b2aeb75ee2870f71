/**
 * The table of implemented RPCs: each name bound to its handler and the parts it uses.
 *
 * @module
 */
import type { Deps } from "./deps.ts";
import type { HandlerTable } from "./mod.ts";
import type { UnaryHandler } from "./instrument.ts";
import { version } from "./version.ts";
import { status } from "./status.ts";
import { runtimeConfig } from "./runtime_config.ts";
import { runPodSandbox } from "./sandbox_run.ts";
import { stopPodSandbox } from "./sandbox_stop.ts";
import { removePodSandbox } from "./sandbox_remove.ts";
import { podSandboxStatus } from "./sandbox_status.ts";
import { listPodSandbox } from "./sandbox_list.ts";
import { stopContainer } from "./container_stop.ts";
import { removeContainer } from "./container_remove.ts";
import { createContainer } from "./container_create.ts";
import { startContainer } from "./container_start.ts";
import { containerStatus } from "./container_status.ts";
import { listContainers } from "./container_list.ts";
import { execSync } from "./container_exec_sync.ts";
import { exec } from "./container_exec.ts";
import { attach } from "./container_attach.ts";
import { portForward } from "./sandbox_port_forward.ts";
import { updateContainerResources } from "./container_update_resources.ts";
import { reopenContainerLog } from "./container_reopen_log.ts";
import { pullImage } from "./image_pull.ts";
import { listImages } from "./image_list.ts";
import { imageStatus } from "./image_status.ts";
import { removeImage } from "./image_remove.ts";
import { imageFsInfo } from "./image_fs_info.ts";
import { containerStats, StatsCollector } from "./container_stats.ts";
import { listContainerStats } from "./container_stats_list.ts";
import { podSandboxStats } from "./sandbox_stats.ts";
import { listPodSandboxStats } from "./sandbox_stats_list.ts";
import { updateRuntimeConfig } from "./update_runtime_config.ts";
import { getContainerEvents } from "./container_events.ts";
import { listMetricDescriptors } from "./metrics_descriptors.ts";
import { listPodSandboxMetrics } from "./metrics_list.ts";
import type { StreamHandlerTable } from "./mod.ts";
import { streamInChunks } from "./list_streams.ts";
import { updatePodSandboxResources } from "./sandbox_update_resources.ts";

// deno-lint-ignore no-explicit-any
type AnyHandler = (deps: Deps, req: any, ctx: any) => Promise<unknown>;

/** Binds every implemented RPC to `deps`. */
export function handlerTable(deps: Deps): HandlerTable {
  const bind = (fn: AnyHandler): UnaryHandler => (req, ctx) => fn(deps, req, ctx);
  // The stats RPCs share one collector: previous CPU samples and the writable-layer cache.
  // A pod without any process gets its network counters through the netns reader, if any.
  const stats = new StatsCollector(deps.images, {
    layout: deps.cgroupLayout,
    ...(deps.netnsReader ? { netnsReader: deps.netnsReader } : {}),
  });
  // A removed container's or pod's entries go with it; the List*Stats calls also drop those of
  // IDs they no longer see, but a client may only ever ask for one ID at a time.
  deps.exits.onForget((id) => stats.forget(id));
  const statsDeps = { ...deps, stats };
  // deno-lint-ignore no-explicit-any
  type StatsHandler = (d: typeof statsDeps, req: any) => Promise<unknown>;
  const bindStats = (fn: StatsHandler): UnaryHandler => (req) => fn(statsDeps, req);
  return {
    Version: bind(version),
    Status: bind(status),
    RuntimeConfig: bind(runtimeConfig),
    RunPodSandbox: bind(runPodSandbox),
    StopPodSandbox: bind(stopPodSandbox),
    RemovePodSandbox: bind(removePodSandbox),
    PodSandboxStatus: bind(podSandboxStatus),
    ListPodSandbox: bind(listPodSandbox),
    StopContainer: bind(stopContainer),
    RemoveContainer: bind(removeContainer),
    CreateContainer: bind(createContainer),
    StartContainer: bind(startContainer),
    ContainerStatus: bind(containerStatus),
    ListContainers: bind(listContainers),
    ExecSync: bind(execSync),
    Exec: bind(exec),
    Attach: bind(attach),
    PortForward: bind(portForward),
    UpdateContainerResources: bind(updateContainerResources),
    ReopenContainerLog: bind(reopenContainerLog),
    PullImage: bind(pullImage),
    ListImages: bind(listImages),
    ImageStatus: bind(imageStatus),
    RemoveImage: bind(removeImage),
    ImageFsInfo: bind(imageFsInfo),
    ContainerStats: bindStats(containerStats),
    ListContainerStats: bindStats(listContainerStats),
    PodSandboxStats: bindStats(podSandboxStats),
    ListPodSandboxStats: bindStats(listPodSandboxStats),
    ListMetricDescriptors: bind(listMetricDescriptors),
    ListPodSandboxMetrics: bindStats(listPodSandboxMetrics),
    UpdateRuntimeConfig: bind(updateRuntimeConfig),
    UpdatePodSandboxResources: bind(updatePodSandboxResources),
  };
}

/** Binds every implemented server-streaming RPC to `deps`. */
export function streamHandlerTable(deps: Deps, unary: HandlerTable): StreamHandlerTable {
  // Each Stream* RPC answers what its List twin answers, in chunks.
  const chunked = (list: string, from: string, to: string) =>
    streamInChunks(
      (req, ctx) => unary[list]!(req, { ...ctx, method: list }) as Promise<Record<string, unknown>>,
      from,
      to,
    );
  return {
    StreamPodSandboxes: chunked("ListPodSandbox", "items", "pod_sandboxes"),
    StreamContainers: chunked("ListContainers", "containers", "containers"),
    StreamImages: chunked("ListImages", "images", "images"),
    StreamContainerStats: chunked("ListContainerStats", "stats", "container_stats"),
    StreamPodSandboxStats: chunked("ListPodSandboxStats", "stats", "pod_sandbox_stats"),
    StreamPodSandboxMetrics: chunked("ListPodSandboxMetrics", "pod_metrics", "pod_sandbox_metrics"),
    // deno-lint-ignore no-explicit-any
    GetContainerEvents: (req, sink, ctx) => getContainerEvents(deps, req as any, sink, ctx),
  };
}
