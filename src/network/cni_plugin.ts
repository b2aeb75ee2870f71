/**
 * The CNI-backed {@linkcode NetworkPlugin}: brings `lo` up with the loopback plugin (as CRI-O
 * does, and containerd without `use_internal_loopback`) unless `loopback` is off because the
 * netns manager brings it up in-process, then runs the first valid network configuration list
 * of the config dir with the pod's port mappings, caches the results for DEL, and rolls back on
 * failure. Pods set up with the plugin keep their cached loopback attachment, so its DEL still
 * runs after a switch. A `portmap` plugin is left out for a pod without port mappings
 * (`skipIdlePortmap`); DEL decides from the mappings ADD had (cached), or from the pod's own
 * when nothing is cached, and runs it when it knows neither.
 *
 * @module
 */
import { dirname } from "node:path";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { nullLogger } from "../log.ts";
import type { CachedAttachment, CacheEntry, ResultCache } from "./cache.ts";
import type { CniExecutor, RuntimeConf } from "./cni.ts";
import { CniPluginNotFoundError, kubernetesCniArgs } from "./cni.ts";
import type { LoadedNetworkConfig, NetworkConfigList } from "./config.ts";
import { parseNetworkConfig } from "./config.ts";
import { podIpsFromResult } from "./result.ts";
import type {
  NetworkPlugin,
  NetworkStatus,
  PodNetwork,
  PortMapping,
  SetUpRequest,
  TearDownRequest,
} from "./types.ts";

/** Where the plugin gets its network configuration from. */
export interface NetworkConfigSource {
  /** The config dir, for messages. */
  readonly dir: string;
  load(): Promise<LoadedNetworkConfig>;
}

/** Options of {@linkcode CniNetworkPlugin}. */
export interface CniNetworkPluginOptions {
  /** Loads the network config (re-read on each call; the source may cache). */
  configSource: NetworkConfigSource;
  /** Runs the plugins. */
  executor: CniExecutor;
  /** Keeps ADD results for DEL. */
  cache: ResultCache;
  logger?: Logger;
  /** Bring `lo` up through the loopback plugin. @default true */
  loopback?: boolean;
  /**
   * Leave out `portmap` for pods without port mappings (`[cni] skip_idle_portmap`).
   * @default true
   */
  skipIdlePortmap?: boolean;
}

/** The network name and interface used for the loopback attachment. */
export const LOOPBACK_NETWORK = "cni-loopback";
const LOOPBACK_CONFIG = {
  cniVersion: "0.3.1",
  name: LOOPBACK_NETWORK,
  plugins: [{ type: "loopback" }],
};

/** CNI's `runtimeConfig.portMappings` entry. */
export interface CniPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp" | "sctp";
  hostIP?: string;
}

/**
 * Converts CRI port mappings to CNI's form, dropping those without a host port.
 *
 * @param mappings CRI port mappings.
 * @returns The `portMappings` capability value.
 */
export function toCniPortMappings(mappings: PortMapping[]): CniPortMapping[] {
  return mappings.filter((m) => m.hostPort > 0).map((m) => {
    const out: CniPortMapping = {
      hostPort: m.hostPort,
      containerPort: m.containerPort,
      protocol: m.protocol.toLowerCase() as CniPortMapping["protocol"],
    };
    if (m.hostIp !== "") out.hostIP = m.hostIp;
    return out;
  });
}

/** A {@linkcode NetworkPlugin} on CNI plugins. */
export class CniNetworkPlugin implements NetworkPlugin {
  #source: NetworkConfigSource;
  #exec: CniExecutor;
  #cache: ResultCache;
  #log: Logger;
  #loopback: NetworkConfigList | undefined;
  #skipIdlePortmap: boolean;

  /** @param options The config source, executor and cache. */
  constructor(options: CniNetworkPluginOptions) {
    this.#source = options.configSource;
    this.#exec = options.executor;
    this.#cache = options.cache;
    this.#log = options.logger ?? nullLogger;
    this.#skipIdlePortmap = options.skipIdlePortmap ?? true;
    if (options.loopback ?? true) {
      const bytes = new TextEncoder().encode(JSON.stringify(LOOPBACK_CONFIG));
      this.#loopback = parseNetworkConfig("<builtin>/99-loopback.conflist", bytes);
    }
  }

  async status(): Promise<NetworkStatus> {
    let loaded: LoadedNetworkConfig;
    try {
      loaded = await this.#source.load();
    } catch (e) {
      return notReady(`Cannot read CNI config dir "${this.#source.dir}": ${errorText(e)}`);
    }
    if (!loaded.config) return notReady(noConfigMessage(this.#source.dir, loaded));
    const types = loaded.config.plugins.map((p) => p.type);
    if (this.#loopback) types.push(...this.#loopback.plugins.map((p) => p.type));
    for (const type of new Set(types)) {
      try {
        await this.#exec.findPlugin(type);
      } catch (e) {
        return notReady(
          `Network "${loaded.config.name}" of "${loaded.config.path}": ${errorText(e)}`,
        );
      }
    }
    return { ready: true };
  }

  async setUp(req: SetUpRequest): Promise<PodNetwork> {
    validate(req);
    const loaded = await this.#source.load();
    const config = loaded.config;
    if (!config) throw new FailedPreconditionError(noConfigMessage(this.#source.dir, loaded));
    const ifName = req.ifName ?? "eth0";
    const pod = `${req.podNamespace}/${req.podName}`;
    const attached: { list: NetworkConfigList; rt: RuntimeConf; result: unknown }[] = [];
    const steps: { list: NetworkConfigList; rt: RuntimeConf }[] = [];
    const skip = this.#skipIdlePortmap;
    if (this.#loopback) steps.push({ list: this.#loopback, rt: runtimeConf(req, "lo", [], skip) });
    steps.push({ list: config, rt: runtimeConf(req, ifName, req.portMappings, skip) });

    let mainResult: unknown;
    try {
      // `lo` and the pod's interface are independent: ADD both lists at once.
      const outcomes = await Promise.allSettled(
        steps.map((step) => this.#exec.add(step.list, step.rt)),
      );
      let failure: { reason: unknown } | undefined;
      for (const [i, outcome] of outcomes.entries()) {
        const step = steps[i]!;
        if (outcome.status === "fulfilled") {
          attached.push({ ...step, result: outcome.value });
          mainResult = outcome.value;
        } else {
          // The failed list may have done part of its work: DEL it too (unless a binary was
          // missing, in which case the executor ran nothing).
          if (!(outcome.reason instanceof CniPluginNotFoundError)) {
            attached.push({ ...step, result: undefined });
          }
          failure ??= { reason: outcome.reason };
        }
      }
      if (failure) throw failure.reason;
      await this.#cache.put(cacheEntry(req, attached));
    } catch (e) {
      await this.#rollBack(req, attached);
      throw new Error(
        `Cannot set up network "${config.name}" for pod "${pod}" (sandbox "${req.id}"): ${
          errorText(e)
        }`,
        { cause: e },
      );
    }
    const ips = podIpsFromResult(mainResult);
    this.#log.info("Pod network set up", {
      id: req.id,
      pod,
      network: config.name,
      ips: ips.map((ip) => ip.address).join(","),
    });
    return { ips, result: mainResult };
  }

  async tearDown(req: TearDownRequest): Promise<void> {
    validate(req);
    const netns = await existingPath(req.netnsPath);
    const entry = await this.#cache.get(req.id);
    const errors: unknown[] = [];
    // Attachments are independent: DEL them all at once (each list's chain runs in reverse).
    if (entry) {
      await Promise.all(
        [...entry.attachments].reverse().map(async (att) => {
          try {
            const list = parseNetworkConfig(
              att.configPath,
              new TextEncoder().encode(JSON.stringify(att.config)),
            );
            // The capability args ADD had (none cached: ADD had no port mappings).
            const rt = runtimeConf(
              { ...req, netnsPath: netns },
              att.ifName,
              [],
              this.#skipIdlePortmap,
            );
            if (att.capabilityArgs) rt.capabilityArgs = att.capabilityArgs;
            await this.#exec.del(list, rt, att.result);
          } catch (e) {
            errors.push(e);
          }
        }),
      );
    } else {
      // No cache (lost, or ADD never finished): DEL with the current config, no prevResult.
      // portmap is left out only when the caller knows the pod's port mappings.
      const loaded = await this.#source.load();
      const skip = this.#skipIdlePortmap && req.portMappings !== undefined;
      const steps: { list: NetworkConfigList; rt: RuntimeConf }[] = [];
      if (loaded.config) {
        steps.push({
          list: loaded.config,
          rt: runtimeConf(
            { ...req, netnsPath: netns },
            req.ifName ?? "eth0",
            req.portMappings ?? [],
            skip,
          ),
        });
      } else {
        this.#log.warn("No CNI config to tear down pod network with", { id: req.id });
      }
      if (this.#loopback) {
        steps.push({
          list: this.#loopback,
          rt: runtimeConf({ ...req, netnsPath: netns }, "lo", [], skip),
        });
      }
      await Promise.all(steps.map(async (step) => {
        try {
          await this.#exec.del(step.list, step.rt);
        } catch (e) {
          errors.push(e);
        }
      }));
    }
    if (errors.length > 0) {
      // Keep the cache so that a retry runs DEL with the same config and result.
      throw new Error(
        `Cannot tear down network of pod "${req.podNamespace}/${req.podName}" (sandbox "${req.id}"): ${
          errors.map(errorText).join("; ")
        }`,
        { cause: errors[0] },
      );
    }
    await this.#cache.remove(req.id);
    this.#log.info("Pod network torn down", { id: req.id, cached: entry !== undefined });
  }

  /**
   * DELs what a failed set-up attached. What its DEL fails for may still hold resources (an IP):
   * it is kept in the cache, as a failed tearDown keeps it, so that a later tearDown, or the
   * garbage sweep once no pod record owns the ID (at start, on SIGUSR1), runs DEL again.
   */
  async #rollBack(
    req: SetUpRequest,
    attached: { list: NetworkConfigList; rt: RuntimeConf; result: unknown }[],
  ): Promise<void> {
    const failed: typeof attached = [];
    await Promise.all(
      [...attached].reverse().map(async (a) => {
        try {
          await this.#exec.del(a.list, a.rt, a.result);
        } catch (e) {
          failed.push(a);
          this.#log.error("Rolling back pod network failed; kept for a later DEL", {
            id: req.id,
            network: a.list.name,
            error: errorText(e),
          });
        }
      }),
    );
    if (failed.length === 0) {
      await this.#cache.remove(req.id).catch(() => {});
      return;
    }
    const kept = attached.filter((a) => failed.includes(a)); // in ADD order
    await this.#cache.put(cacheEntry(req, kept)).catch((e) =>
      this.#log.error("Cannot keep the pod network a rollback left", {
        id: req.id,
        error: errorText(e),
      })
    );
  }
}

/** The cache entry of a pod's attachments. */
function cacheEntry(
  req: Pick<SetUpRequest, "id" | "netnsPath">,
  attached: { list: NetworkConfigList; rt: RuntimeConf; result: unknown }[],
): CacheEntry {
  return {
    id: req.id,
    netns: req.netnsPath,
    attachments: attached.map((a): CachedAttachment => ({
      network: a.list.name,
      ifName: a.rt.ifName,
      config: JSON.parse(new TextDecoder().decode(a.list.bytes)),
      configPath: a.list.path,
      result: a.result,
      ...(a.rt.capabilityArgs ? { capabilityArgs: a.rt.capabilityArgs } : {}),
    })),
  };
}

function runtimeConf(
  req: Pick<SetUpRequest, "id" | "netnsPath" | "podName" | "podNamespace" | "podUid">,
  ifName: string,
  portMappings: PortMapping[],
  skipIdlePortmap: boolean,
): RuntimeConf {
  const rt: RuntimeConf = {
    containerId: req.id,
    netns: req.netnsPath,
    ifName,
    skipIdlePortmap,
    args: kubernetesCniArgs({
      namespace: req.podNamespace,
      name: req.podName,
      sandboxId: req.id,
      uid: req.podUid,
    }),
  };
  const mappings = toCniPortMappings(portMappings);
  if (mappings.length > 0) rt.capabilityArgs = { portMappings: mappings };
  return rt;
}

function validate(req: Pick<SetUpRequest, "id" | "podName" | "podNamespace" | "podUid">): void {
  if (req.id === "" || /[/;=\s]/.test(req.id)) {
    throw new InvalidArgumentError(`Invalid pod sandbox ID "${req.id}"`);
  }
  for (
    const [field, value] of [
      ["name", req.podName],
      ["namespace", req.podNamespace],
      ["uid", req.podUid],
    ] as const
  ) {
    if (/[;=]/.test(value)) {
      throw new InvalidArgumentError(
        `Invalid pod ${field} "${value}": ";" and "=" are not allowed`,
      );
    }
  }
}

/**
 * `path` when a namespace is mounted on it, else "" (CNI_NETNS empty: the plugins release what
 * they hold without entering a namespace). A path that is gone, or a file that never got its
 * namespace (a crash between making the file and pinning the namespace on it, which CNI
 * plugins refuse with "unknown FS magic"), gives "". A mounted namespace lives on another
 * device than the dir holding the file.
 */
async function existingPath(path: string): Promise<string> {
  if (path === "") return "";
  try {
    const [file, dir] = await Promise.all([Deno.stat(path), Deno.stat(dirname(path))]);
    return file.dev !== dir.dev ? path : "";
  } catch {
    return "";
  }
}

function noConfigMessage(dir: string, loaded: LoadedNetworkConfig): string {
  let msg = `No valid CNI network config in "${dir}" (*.conflist, *.conf, *.json)`;
  if (loaded.skipped.length > 0) {
    msg += `; skipped ${loaded.skipped.map((s) => `"${s.path}": ${s.reason}`).join("; ")}`;
  }
  return msg;
}

function notReady(message: string): NetworkStatus {
  return { ready: false, reason: "NetworkPluginNotReady", message };
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
