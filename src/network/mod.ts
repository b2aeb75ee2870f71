/**
 * Pod networking: CNI plugin execution ({@linkcode createCniPlugin}) and pinned network
 * namespaces ({@linkcode createNetnsManager}).
 *
 * ```ts
 * const netns = createNetnsManager({ dir: "/run/ocid/netns", runner: denoRunner });
 * const network = createCniPlugin({
 *   configDir: "/etc/cni/net.d",
 *   pluginDirs: ["/usr/lib/cni", "/opt/cni/bin"],
 *   cacheDir: "/var/lib/ocid/cni-cache",
 * });
 * const path = await netns.create(sandboxId);
 * const { ips } = await network.setUp({ id: sandboxId, netnsPath: path, ... });
 * ```
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { Runner } from "../process.ts";
import { denoRunner } from "../process.ts";
import { createFileResultCache } from "./cache.ts";
import { createCniExecutor } from "./cni.ts";
import { CniNetworkPlugin } from "./cni_plugin.ts";
import { NetworkConfigLoader } from "./config.ts";
import type { NetworkPlugin } from "./types.ts";

export type {
  NetworkPlugin,
  NetworkStatus,
  PodIp,
  PodNetwork,
  PortMapping,
  SetUpRequest,
  TearDownRequest,
} from "./types.ts";
export type { NetnsManager, NetnsManagerOptions } from "./netns.ts";
export { createNetnsManager } from "./netns.ts";
export type { CniExecutor, RuntimeConf } from "./cni.ts";
export { CniPluginError, CniPluginNotFoundError, createCniExecutor } from "./cni.ts";
export type { CacheEntry, ResultCache } from "./cache.ts";
export { createFileResultCache } from "./cache.ts";
export type { LoadedNetworkConfig, NetworkConfigList, SkippedConfig } from "./config.ts";
export { loadNetworkConfig, NetworkConfigLoader } from "./config.ts";
export { CniNetworkPlugin, toCniPortMappings } from "./cni_plugin.ts";
export { podIpsFromResult } from "./result.ts";

/** Options of {@linkcode createCniPlugin}. */
export interface CniPluginOptions {
  /** The CNI config dir (`cni.config_dir`); ocid never writes here. */
  configDir: string;
  /** Dirs searched for plugin binaries (`cni.plugin_dirs`). */
  pluginDirs: string[];
  /** Where ADD results are cached, e.g. `<root>/cni-cache`. */
  cacheDir: string;
  /** @default denoRunner */
  runner?: Runner;
  logger?: Logger;
  /** Per plugin call. @default 60000 */
  timeoutMs?: number;
  /** Bring `lo` up with the loopback plugin. @default true */
  loopback?: boolean;
  /** Leave out `portmap` for pods without port mappings. @default true */
  skipIdlePortmap?: boolean;
}

/**
 * Creates the CNI network plugin.
 *
 * @param options Config dir, plugin dirs and cache dir.
 * @returns A {@linkcode NetworkPlugin} that re-reads the config when it changes.
 */
export function createCniPlugin(options: CniPluginOptions): NetworkPlugin {
  return new CniNetworkPlugin({
    configSource: new NetworkConfigLoader(options.configDir),
    executor: createCniExecutor({
      runner: options.runner ?? denoRunner,
      pluginDirs: options.pluginDirs,
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    }),
    cache: createFileResultCache(options.cacheDir),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.loopback !== undefined ? { loopback: options.loopback } : {}),
    ...(options.skipIdlePortmap !== undefined ? { skipIdlePortmap: options.skipIdlePortmap } : {}),
  });
}
