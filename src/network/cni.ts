/**
 * Executing CNI plugins per the CNI spec (containernetworking/cni SPEC.md): a network
 * configuration list runs ADD in order, each plugin getting the previous one's result as
 * `prevResult`; DEL runs in reverse with the cached ADD result as `prevResult`; CHECK in order
 * with the cached result; VERSION asks one plugin which spec versions it speaks. A `portmap`
 * plugin given no port mappings is left out when the caller allows it
 * ({@linkcode skipsIdlePortmap}): it would only pass the result through.
 *
 * Programs are run through the {@linkcode Runner} seam, so tests use a fake.
 *
 * @module
 */
import { join } from "node:path";
import type { Runner } from "../process.ts";
import { programPath, text } from "../process.ts";
import type { NetworkConfigList, PluginConfig } from "./config.ts";
import { settleAll } from "../settle.ts";

/** The per-call parameters of a plugin execution (libcni's RuntimeConf). */
export interface RuntimeConf {
  /** `CNI_CONTAINERID`: the pod sandbox ID. */
  containerId: string;
  /** `CNI_NETNS`: path of the network namespace ("" when it is gone, DEL only). */
  netns: string;
  /** `CNI_IFNAME`: interface name inside the namespace. */
  ifName: string;
  /** `CNI_ARGS` as key/value pairs, joined as `K=V;K=V`. */
  args?: [string, string][];
  /**
   * Values injected into `runtimeConfig` of plugins that declare the capability with the same
   * key (e.g. `portMappings`, `bandwidth`). Empty or undefined values are not injected.
   */
  capabilityArgs?: Record<string, unknown>;
  /**
   * Leave out a `portmap` plugin that gets no port mappings ({@linkcode skipsIdlePortmap}).
   * Set it only when `capabilityArgs` holds the mappings the pod's ADD had (from the pod's
   * config or the ADD cache), never on a DEL that does not know them.
   */
  skipIdlePortmap?: boolean;
}

/** Executes CNI network configuration lists. */
export interface CniExecutor {
  /**
   * Runs ADD through the chain and returns the last plugin's result. Fails before running any
   * plugin when one of the binaries is missing; stops at the first failing plugin.
   */
  add(list: NetworkConfigList, rt: RuntimeConf): Promise<unknown>;
  /**
   * Runs DEL through the chain in reverse; `prevResult` is the cached ADD result, if any.
   * Every plugin runs even when an earlier one fails; the first error is thrown at the end
   * (an AggregateError when several failed).
   */
  del(list: NetworkConfigList, rt: RuntimeConf, prevResult?: unknown): Promise<void>;
  /** Runs CHECK through the chain with the cached ADD result. */
  check(list: NetworkConfigList, rt: RuntimeConf, prevResult: unknown): Promise<void>;
  /** Runs VERSION on one plugin and returns its answer (`supportedVersions`). */
  version(pluginType: string, cniVersion?: string): Promise<unknown>;
  /** Returns the path of a plugin binary in the plugin dirs. @throws {CniPluginNotFoundError} */
  findPlugin(pluginType: string): Promise<string>;
}

/** Options of {@linkcode createCniExecutor}. */
export interface CniExecutorOptions {
  /** Runs the plugin binaries. */
  runner: Runner;
  /** Dirs searched, in order, for plugin binaries; also `CNI_PATH`. */
  pluginDirs: string[];
  /** Kill a plugin call after this many milliseconds. @default 60000 */
  timeoutMs?: number;
  /** `PATH` given to plugins (portmap needs iptables). @default ocid's PATH or a system default */
  path?: string;
}

/** The CNI commands ocid runs. */
export type CniCommand = "ADD" | "DEL" | "CHECK" | "VERSION";

/** A plugin failed: carries the CNI error code, message and details when it gave them. */
export class CniPluginError extends Error {
  /** The plugin type (binary name). */
  readonly plugin: string;
  readonly command: CniCommand;
  /** The CNI error code (1-99 well-known; 100+ plugin specific), or undefined. */
  readonly cniCode: number | undefined;
  readonly details: string | undefined;
  constructor(
    plugin: string,
    command: CniCommand,
    message: string,
    options?: ErrorOptions & { cniCode?: number; details?: string; network?: string },
  ) {
    const where = options?.network ? ` (network "${options.network}")` : "";
    super(`CNI plugin "${plugin}" failed on ${command}${where}: ${message}`, options);
    this.name = "CniPluginError";
    this.plugin = plugin;
    this.command = command;
    this.cniCode = options?.cniCode;
    this.details = options?.details;
  }
}

/** A plugin binary is in none of the plugin dirs. */
export class CniPluginNotFoundError extends Error {
  readonly plugin: string;
  constructor(plugin: string, dirs: string[]) {
    super(
      `Cannot find CNI plugin "${plugin}" in ${dirs.map((d) => `"${d}"`).join(", ")}: ` +
        `install it or add its dir to cni.plugin_dirs`,
    );
    this.name = "CniPluginNotFoundError";
    this.plugin = plugin;
  }
}

/**
 * Builds the `CNI_ARGS` value the Kubernetes way.
 *
 * @param pod The pod's namespace, name, sandbox ID and UID.
 * @returns Pairs starting with `IgnoreUnknown=1`.
 */
export function kubernetesCniArgs(
  pod: { namespace: string; name: string; sandboxId: string; uid: string },
): [string, string][] {
  return [
    ["IgnoreUnknown", "1"],
    ["K8S_POD_NAMESPACE", pod.namespace],
    ["K8S_POD_NAME", pod.name],
    ["K8S_POD_INFRA_CONTAINER_ID", pod.sandboxId],
    ["K8S_POD_UID", pod.uid],
  ];
}

/**
 * Whether `version` is at least `min` (both "major.minor.patch").
 *
 * @param version A CNI version such as "0.3.1".
 * @param min The version to compare against.
 */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split(".").map((n) => parseInt(n, 10) || 0);
  const b = min.split(".").map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * Builds the stdin config of one plugin of a list: the plugin's own config plus the list's
 * `name` and `cniVersion`, `prevResult` when given, and `runtimeConfig` with the capability
 * args the plugin declares.
 *
 * @param list The network configuration list.
 * @param plugin One plugin of the list.
 * @returns The JSON object written to the plugin's stdin.
 */
export function pluginStdinConfig(
  list: Pick<NetworkConfigList, "name" | "cniVersion">,
  plugin: PluginConfig,
  options: { prevResult?: unknown; capabilityArgs?: Record<string, unknown> } = {},
): Record<string, unknown> {
  const conf: Record<string, unknown> = {
    ...plugin,
    name: list.name,
    cniVersion: list.cniVersion,
  };
  if (options.prevResult !== undefined) conf.prevResult = options.prevResult;
  const runtimeConfig: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options.capabilityArgs ?? {})) {
    if (plugin.capabilities?.[key] !== true || value === undefined) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    runtimeConfig[key] = value;
  }
  if (Object.keys(runtimeConfig).length > 0) conf.runtimeConfig = runtimeConfig;
  return conf;
}

/**
 * Whether a run of a plugin of the chain is left out: a `portmap` plugin whose stdin config
 * carries no port mappings, when `rt.skipIdlePortmap` allows it. Running it would change
 * neither the chain's result nor the host, and costs a process (about 6 ms on ADD and on DEL).
 *
 * What portmap does without `runtimeConfig.portMappings` (containernetworking/plugins
 * `plugins/meta/portmap/main.go`, read at two iptables-only commits and one with the nftables
 * backend; run against Debian bookworm's v1.1.1 with a fake iptables that logs its calls):
 * - ADD prints `prevResult` back in the config's cniVersion, the version the previous plugin of
 *   the same list printed it in, so the chain's result is the previous plugin's. Without a
 *   `prevResult` it fails ("must be called as chained plugin"): then it is not left out.
 * - CHECK succeeds (it requires a `prevResult`: not left out without one).
 * - DEL succeeds without touching iptables or nftables since containernetworking/plugins PR 509
 *   (July 2020, v0.8.7). Before, it deleted the pod's own chains (named after the network and the
 *   container ID), which only an ADD with mappings makes: the same host state as long as the
 *   mappings are the ones ADD had, which is what `skipIdlePortmap` promises.
 *
 * Not reproduced: portmap's checks of its own config (e.g. the `markMasqBit` range), which then
 * fail only pods that have port mappings; and its re-encoding of `prevResult`, which drops
 * fields outside the CNI result types (bridge prints none).
 *
 * @param command The CNI command about to run.
 * @param conf The plugin's stdin config ({@linkcode pluginStdinConfig}).
 * @param rt The runtime config of the call.
 * @returns true when the run is left out.
 */
export function skipsIdlePortmap(
  command: CniCommand,
  conf: Record<string, unknown>,
  rt: Pick<RuntimeConf, "skipIdlePortmap">,
): boolean {
  if (rt.skipIdlePortmap !== true || conf.type !== "portmap") return false;
  if (command !== "DEL" && conf.prevResult === undefined) return false;
  const runtimeConfig = conf.runtimeConfig ?? {};
  if (typeof runtimeConfig !== "object" || Array.isArray(runtimeConfig)) return false;
  const mappings = (runtimeConfig as { portMappings?: unknown }).portMappings ?? [];
  return Array.isArray(mappings) && mappings.length === 0;
}

/**
 * Creates the default executor, running plugin binaries found in `pluginDirs`.
 *
 * @param options The runner, the plugin dirs and limits.
 */
export function createCniExecutor(options: CniExecutorOptions): CniExecutor {
  return new DefaultCniExecutor(options);
}

class DefaultCniExecutor implements CniExecutor {
  #runner: Runner;
  #dirs: string[];
  #timeoutMs: number;
  #path: string;

  constructor(options: CniExecutorOptions) {
    this.#runner = options.runner;
    this.#dirs = options.pluginDirs;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#path = options.path ?? programPath();
  }

  async add(list: NetworkConfigList, rt: RuntimeConf): Promise<unknown> {
    // Fail before running anything when a binary is missing: nothing to roll back then. The
    // binaries found are the ones run.
    // The first missing one in the list's order is named.
    const binaries = await settleAll(list.plugins.map((p) => this.findPlugin(p.type)));
    let prevResult: unknown = undefined;
    for (const [i, plugin] of list.plugins.entries()) {
      const conf = pluginStdinConfig(list, plugin, {
        prevResult,
        ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      });
      if (skipsIdlePortmap("ADD", conf, rt)) continue;
      prevResult = await this.#exec("ADD", plugin.type, conf, rt, list.name, binaries[i]);
    }
    return prevResult;
  }

  async del(list: NetworkConfigList, rt: RuntimeConf, prevResult?: unknown): Promise<void> {
    // Before 0.4.0 the spec had no prevResult on DEL.
    const withPrev = prevResult !== undefined && versionAtLeast(list.cniVersion, "0.4.0");
    // Unlike ADD, one failing (or missing) plugin does not stop the others from releasing
    // what they hold; the first error is thrown at the end.
    const errors: unknown[] = [];
    for (const plugin of [...list.plugins].reverse()) {
      const conf = pluginStdinConfig(list, plugin, {
        ...(withPrev ? { prevResult } : {}),
        ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      });
      if (skipsIdlePortmap("DEL", conf, rt)) continue;
      try {
        await this.#exec("DEL", plugin.type, conf, rt, list.name);
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(
        errors,
        errors.map((e) => (e instanceof Error ? e.message : String(e))).join("; "),
      );
    }
  }

  async check(list: NetworkConfigList, rt: RuntimeConf, prevResult: unknown): Promise<void> {
    if (!versionAtLeast(list.cniVersion, "0.4.0")) {
      throw new Error(
        `Cannot run CHECK on network "${list.name}": cniVersion "${list.cniVersion}" is older than 0.4.0`,
      );
    }
    for (const plugin of list.plugins) {
      const conf = pluginStdinConfig(list, plugin, {
        prevResult,
        ...(rt.capabilityArgs ? { capabilityArgs: rt.capabilityArgs } : {}),
      });
      if (skipsIdlePortmap("CHECK", conf, rt)) continue;
      await this.#exec("CHECK", plugin.type, conf, rt, list.name);
    }
  }

  async version(pluginType: string, cniVersion = "1.0.0"): Promise<unknown> {
    const rt: RuntimeConf = { containerId: "", netns: "", ifName: "" };
    return await this.#exec("VERSION", pluginType, { cniVersion }, rt, undefined);
  }

  async findPlugin(pluginType: string): Promise<string> {
    for (const dir of this.#dirs) {
      const path = join(dir, pluginType);
      try {
        const st = await Deno.stat(path);
        if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return path;
      } catch {
        // Not in this dir.
      }
    }
    throw new CniPluginNotFoundError(pluginType, this.#dirs);
  }

  async #exec(
    command: CniCommand,
    pluginType: string,
    conf: Record<string, unknown>,
    rt: RuntimeConf,
    network: string | undefined,
    found?: string,
  ): Promise<unknown> {
    const binary = found ?? await this.findPlugin(pluginType);
    const env: Record<string, string> = {
      CNI_COMMAND: command,
      CNI_CONTAINERID: rt.containerId,
      CNI_NETNS: rt.netns,
      CNI_IFNAME: rt.ifName,
      CNI_PATH: this.#dirs.join(":"),
      PATH: this.#path,
    };
    if (rt.args && rt.args.length > 0) {
      env.CNI_ARGS = rt.args.map(([k, v]) => `${k}=${v}`).join(";");
    }
    const errorOptions = network ? { network } : {};
    const started = performance.now();
    let result;
    try {
      result = await this.#runner.run(binary, [], {
        stdin: JSON.stringify(conf),
        env,
        timeoutMs: this.#timeoutMs,
        check: false,
      });
    } catch (e) {
      throw new CniPluginError(pluginType, command, e instanceof Error ? e.message : String(e), {
        cause: e,
        ...errorOptions,
      });
    }
    const stdout = text(result.stdout).trim();
    if (result.code !== 0) {
      if (performance.now() - started >= this.#timeoutMs) {
        throw new CniPluginError(
          pluginType,
          command,
          `timed out after ${this.#timeoutMs} ms`,
          errorOptions,
        );
      }
      throw pluginFailure(pluginType, command, result.code, stdout, text(result.stderr), network);
    }
    if (command === "DEL" || command === "CHECK") return undefined;
    if (stdout === "") {
      throw new CniPluginError(pluginType, command, "it printed no result", errorOptions);
    }
    try {
      return JSON.parse(stdout);
    } catch {
      throw new CniPluginError(
        pluginType,
        command,
        `it printed a result that is not JSON: ${JSON.stringify(stdout.slice(0, 200))}`,
        errorOptions,
      );
    }
  }
}

function pluginFailure(
  plugin: string,
  command: CniCommand,
  exitCode: number,
  stdout: string,
  stderr: string,
  network: string | undefined,
): CniPluginError {
  const base = network ? { network } : {};
  try {
    const parsed: unknown = JSON.parse(stdout);
    if (typeof parsed === "object" && parsed !== null && "msg" in parsed) {
      const { code, msg, details } = parsed as { code?: unknown; msg?: unknown; details?: unknown };
      const detailText = typeof details === "string" && details !== "" ? details : undefined;
      const message = `${String(msg)}${detailText ? `: ${detailText}` : ""}` +
        (typeof code === "number" ? ` (code ${code})` : "");
      return new CniPluginError(plugin, command, message, {
        ...base,
        ...(typeof code === "number" ? { cniCode: code } : {}),
        ...(detailText ? { details: detailText } : {}),
      });
    }
  } catch {
    // Not a CNI error object; fall back to the raw output.
  }
  const output = (stderr.trim() || stdout).slice(0, 2000);
  return new CniPluginError(
    plugin,
    command,
    `exit code ${exitCode}${output ? `: ${output}` : ""}`,
    base,
  );
}
