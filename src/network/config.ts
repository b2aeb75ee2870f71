/**
 * Loading the pod network configuration the CRI way: in the CNI config dir, the files
 * `*.conflist`, `*.conf` and `*.json` sorted by name; the first valid one wins. A `.conf`
 * (or `.json`) holding a single plugin is wrapped into a list. Invalid files are skipped with
 * a reason, which `status()` reports.
 *
 * @module
 */
import { isObject } from "../json_shape.ts";
import { join } from "node:path";

/** One plugin of a network configuration list; `type` names the plugin binary. */
export interface PluginConfig {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** A validated network configuration list. */
export interface NetworkConfigList {
  /** The network name (`name`). */
  name: string;
  /** The CNI spec version of the list (`cniVersion`). */
  cniVersion: string;
  /** The plugins of the chain, in ADD order. */
  plugins: PluginConfig[];
  /** The file this list came from. */
  path: string;
  /** The list as JSON (a `.conf` is wrapped into a list first). */
  bytes: Uint8Array;
}

/** A config file that was not used, and why. */
export interface SkippedConfig {
  path: string;
  reason: string;
}

/** What {@linkcode loadNetworkConfig} found. */
export interface LoadedNetworkConfig {
  /** The first valid list, or undefined when the dir holds none. */
  config: NetworkConfigList | undefined;
  /** Files before the chosen one (or all, when none is valid) that were invalid. */
  skipped: SkippedConfig[];
}

const EXTENSIONS = [".conflist", ".conf", ".json"];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Parses and validates one config file's content.
 *
 * @param path The file name; its extension decides list or single plugin.
 * @param bytes The file content.
 * @returns The list.
 * @throws {Error} With the reason when the content is not a usable config.
 */
export function parseNetworkConfig(path: string, bytes: Uint8Array): NetworkConfigList {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new Error(`Invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isObject(raw)) throw new Error("Expected a JSON object");
  let list: Record<string, unknown>;
  if (path.endsWith(".conflist")) {
    list = raw;
  } else if (Array.isArray(raw.plugins)) {
    // A .json file may hold a list too.
    list = raw;
  } else {
    // A single plugin config: wrap it, moving name and cniVersion to the list.
    const { name, cniVersion, ...plugin } = raw;
    list = { name, cniVersion, plugins: [plugin] };
    if (raw.disableCheck !== undefined) list.disableCheck = raw.disableCheck;
  }
  const { name, cniVersion, plugins } = list;
  if (typeof name !== "string" || name === "") throw new Error('Missing "name"');
  if (typeof cniVersion !== "string" || cniVersion === "") {
    throw new Error('Missing "cniVersion"');
  }
  if (!Array.isArray(plugins) || plugins.length === 0) {
    throw new Error('Missing "plugins" or it is empty');
  }
  plugins.forEach((p: unknown, i) => {
    if (!isObject(p)) throw new Error(`Plugin ${i} is not an object`);
    if (typeof p.type !== "string" || p.type === "") throw new Error(`Plugin ${i} has no "type"`);
    if (p.type.includes("/")) throw new Error(`Plugin ${i} has an invalid "type" "${p.type}"`);
    if (p.capabilities !== undefined && !isObject(p.capabilities)) {
      throw new Error(`Plugin ${i} has invalid "capabilities"`);
    }
  });
  return {
    name,
    cniVersion,
    plugins: plugins as PluginConfig[],
    path,
    bytes: path.endsWith(".conflist") ? bytes : encoder.encode(JSON.stringify(list)),
  };
}

/**
 * Loads the network configuration from a CNI config dir.
 *
 * @param dir The config dir, e.g. `/etc/cni/net.d`. A missing dir yields no config.
 * @returns The first valid list (by file name) and the invalid files seen before it.
 */
export async function loadNetworkConfig(dir: string): Promise<LoadedNetworkConfig> {
  const files = await listConfigFiles(dir);
  const skipped: SkippedConfig[] = [];
  for (const path of files) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      skipped.push({ path, reason: e instanceof Error ? e.message : String(e) });
      continue;
    }
    try {
      return { config: parseNetworkConfig(path, bytes), skipped };
    } catch (e) {
      skipped.push({ path, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  return { config: undefined, skipped };
}

/**
 * Reloads the network configuration only when the dir or a candidate file changed (by
 * mtime), so that frequent `status()` calls stay cheap.
 */
export class NetworkConfigLoader {
  #dir: string;
  #key: string | undefined;
  #loaded: LoadedNetworkConfig | undefined;

  /** @param dir The CNI config dir. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The config dir this loader reads. */
  get dir(): string {
    return this.#dir;
  }

  /** Returns the current configuration, re-reading files only when something changed. */
  async load(): Promise<LoadedNetworkConfig> {
    const key = await this.#changeKey();
    if (this.#loaded && key !== undefined && key === this.#key) return this.#loaded;
    const loaded = await loadNetworkConfig(this.#dir);
    this.#loaded = loaded;
    this.#key = key;
    return loaded;
  }

  async #changeKey(): Promise<string | undefined> {
    try {
      const parts: string[] = [];
      const [dirStat, paths] = await Promise.all([
        Deno.stat(this.#dir),
        listConfigFiles(this.#dir),
      ]);
      parts.push(String(dirStat.mtime?.getTime()));
      const stats = await Promise.all(paths.map((p) => Deno.stat(p).catch(() => undefined)));
      for (const [i, path] of paths.entries()) {
        const st = stats[i];
        parts.push(`${path}:${st?.mtime?.getTime()}:${st?.size}`);
      }
      return parts.join("|");
    } catch {
      return undefined;
    }
  }
}

async function listConfigFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) continue;
      if (EXTENSIONS.some((ext) => entry.name.endsWith(ext))) names.push(entry.name);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return names.map((n) => join(dir, n));
}
