/**
 * Builds the resolved {@linkcode Config}: embedded defaults, then the TOML file, then its
 * drop-ins (`ocid.conf.d/*.conf` next to it, in name order), then command-line flags. Later
 * sources win key by key; arrays are replaced, not appended. Derived defaults
 * (`runtime.path`, `runtime.root`, `listen`) are computed after merging, from the merged
 * `runtime.name` and `runroot`.
 *
 * @module
 */
import { parse as parseToml } from "smol-toml";
import { dirname, join } from "node:path";
import { checkValue, describeKind, FIELDS, type FieldSpec, setField, TABLES } from "./_schema.ts";
import {
  defaultConfig,
  defaultListen,
  defaultRuntimePath,
  defaultRuntimeRoot,
  type HostProbe,
} from "./defaults.ts";
import { type FlagValues, runtimeNameFromPath } from "./flags.ts";
import { parseRuntimesTable, resolveRuntimes, runtimeHandlers } from "./runtime_handlers.ts";
import type { Config } from "./types.ts";

/** Where the configuration is read from when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = "/etc/ocid/ocid.conf";

/** A configuration the user got wrong: a bad file, key, value or missing `--config` file. */
export class ConfigError extends Error {
  /** Creates an error with an actionable message naming the file and key. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConfigError";
  }
}

/** The file reads loadConfig needs; tests pass a fake. */
export interface ConfigFs {
  /** Reads a whole text file. Throws `Deno.errors.NotFound` when it does not exist. */
  readTextFile(path: string): Promise<string>;
  /** Names of the files (not directories) in a directory. Throws `Deno.errors.NotFound`. */
  readFileNames(path: string): Promise<string[]>;
}

/** The real file system. */
export const denoConfigFs: ConfigFs = {
  readTextFile: (path) => Deno.readTextFile(path),
  async readFileNames(path) {
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      if (entry.isFile || entry.isSymlink) names.push(entry.name);
    }
    return names;
  },
};

/** Options of {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /**
   * The main TOML file. When it is not the default path (here or as `flags.config`), it
   * must exist. @default DEFAULT_CONFIG_PATH
   */
  configPath?: string;
  /** Command-line flags; they win over the files. */
  flags?: Partial<FlagValues>;
  /** File reads. @default denoConfigFs */
  fs?: ConfigFs;
  /** Host facts for the detected defaults. @default procHostProbe */
  host?: HostProbe;
}

/** The drop-in directory of a configuration file: `ocid.conf.d` in the same directory. */
export function dropInDir(configPath: string): string {
  return join(dirname(configPath), "ocid.conf.d");
}

/** Values one source sets, by dotted TOML key. */
type Layer = Map<string, unknown>;

const BY_KEY = new Map(FIELDS.map((f) => [f.key, f]));

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Parses and validates one TOML text into the values it sets.
 *
 * @param text the TOML
 * @param source the file name, for error messages
 * @throws {ConfigError} naming the file and the key on a syntax error, an unknown key or a
 *   value of the wrong kind
 */
export function parseConfigToml(text: string, source: string): Map<string, unknown> {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ConfigError(`Cannot parse ${source}: ${message}`, { cause: err });
  }
  const layer: Layer = new Map();
  const take = (key: string, value: unknown) => {
    const spec = BY_KEY.get(key);
    if (!spec) {
      throw new ConfigError(`Unknown key "${key}" in ${source}`);
    }
    const checked = checkValue(spec.kind, value);
    if (checked === undefined) {
      throw new ConfigError(
        `Invalid value for "${key}" in ${source}: ${describeKind(spec.kind)}`,
      );
    }
    layer.set(key, checked);
  };
  for (const [key, value] of Object.entries(doc)) {
    if (key === "runtimes") {
      try {
        for (const [k, v] of parseRuntimesTable(value, source)) layer.set(k, v);
      } catch (err) {
        throw new ConfigError((err as Error).message, { cause: err });
      }
    } else if (TABLES.includes(key)) {
      if (!isTable(value)) {
        throw new ConfigError(`Invalid value for "${key}" in ${source}: expected a table`);
      }
      for (const [sub, v] of Object.entries(value)) take(`${key}.${sub}`, v);
    } else if (isTable(value) && !BY_KEY.has(key)) {
      throw new ConfigError(`Unknown table "[${key}]" in ${source}`);
    } else {
      take(key, value);
    }
  }
  return layer;
}

/** Flags and the TOML keys they set. `runtime` is special: it sets name and path. */
const FLAG_KEYS: ReadonlyArray<readonly [keyof FlagValues, string, string]> = [
  ["root", "root", "--root"],
  ["runroot", "runroot", "--runroot"],
  ["listen", "listen", "--listen"],
  ["logLevel", "log_level", "--log-level"],
  ["cniConfigDir", "cni.config_dir", "--cni-config-dir"],
  ["cniPluginDirs", "cni.plugin_dirs", "--cni-plugin-dir"],
  ["runtime", "runtime.path", "--runtime"],
  ["conmon", "conmon.path", "--conmon"],
  ["pauseImage", "pause.image", "--pause-image"],
  ["registriesConf", "image.registries_conf", "--registries-conf"],
  ["storageDriver", "image.storage_driver", "--storage-driver"],
  ["cgroupManager", "cgroup_manager", "--cgroup-manager"],
  ["streamAddress", "stream_address", "--stream-address"],
  ["streamPort", "stream_port", "--stream-port"],
  ["metricsAddress", "metrics_address", "--metrics-address"],
  ["metricsPort", "metrics_port", "--metrics-port"],
];

function flagLayer(flags: Partial<FlagValues>): Layer {
  const layer: Layer = new Map();
  for (const [prop, key, flag] of FLAG_KEYS) {
    const value = flags[prop];
    if (value === undefined) continue;
    const spec = BY_KEY.get(key) as FieldSpec;
    const checked = checkValue(spec.kind, value);
    if (checked === undefined) {
      throw new ConfigError(`Invalid value for "${flag}": ${describeKind(spec.kind)}`);
    }
    layer.set(key, checked);
  }
  if (flags.runtime !== undefined) {
    const name = runtimeNameFromPath(flags.runtime);
    if (!name) {
      throw new ConfigError(
        `Invalid value for "--runtime": expected a path whose file name contains "runc" or "crun"`,
      );
    }
    layer.set("runtime.name", name);
  }
  return layer;
}

function isNotFound(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound ||
    (err instanceof Error && (err as { code?: string }).code === "ENOENT");
}

/**
 * Loads the configuration.
 *
 * @param options where to read from, flags, and fakes for tests
 * @returns the resolved configuration, every field set
 * @throws {ConfigError} when an explicitly named file is missing, a file cannot be read or
 *   parsed, or a key is unknown or has a value of the wrong kind (the message names both)
 * @example
 * ```ts
 * const { flags } = parseCommandLine(Deno.args);
 * const config = await loadConfig({ flags });
 * ```
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<Config> {
  const fs = options.fs ?? denoConfigFs;
  const flags = options.flags ?? {};
  const configPath = options.configPath ?? flags.config ?? DEFAULT_CONFIG_PATH;
  const explicit = configPath !== DEFAULT_CONFIG_PATH;
  const layers: Layer[] = [];

  try {
    layers.push(parseConfigToml(await fs.readTextFile(configPath), configPath));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (!isNotFound(err)) {
      throw new ConfigError(`Cannot read configuration file ${configPath}: ${errText(err)}`, {
        cause: err,
      });
    }
    if (explicit) {
      throw new ConfigError(
        `Cannot find configuration file ${configPath}; create it or drop --config`,
        { cause: err },
      );
    }
  }

  const dir = dropInDir(configPath);
  let names: string[] = [];
  try {
    names = await fs.readFileNames(dir);
  } catch (err) {
    if (!isNotFound(err)) {
      throw new ConfigError(`Cannot read drop-in directory ${dir}: ${errText(err)}`, {
        cause: err,
      });
    }
  }
  for (const name of names.filter((n) => n.endsWith(".conf")).sort()) {
    const file = join(dir, name);
    let text: string;
    try {
      text = await fs.readTextFile(file);
    } catch (err) {
      throw new ConfigError(`Cannot read configuration file ${file}: ${errText(err)}`, {
        cause: err,
      });
    }
    layers.push(parseConfigToml(text, file));
  }

  layers.push(flagLayer(flags));
  return resolveLayers(layers, defaultConfig(options.host ? { host: options.host } : {}));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Applies layers over the defaults, then fills in the derived defaults. */
function resolveLayers(layers: Layer[], base: Config): Config {
  const merged: Layer = new Map();
  for (const layer of layers) for (const [k, v] of layer) merged.set(k, v);
  const config = structuredClone(base);
  const runtimes = new Map<string, unknown>();
  for (const [key, value] of merged) {
    if (key.startsWith("runtimes.")) {
      runtimes.set(key, value);
      continue;
    }
    setField(config as unknown as Record<string, unknown>, BY_KEY.get(key) as FieldSpec, value);
  }
  if (!merged.has("runtime.name") && merged.has("runtime.path")) {
    config.runtime.name = runtimeNameFromPath(config.runtime.path) ?? config.runtime.name;
  }
  if (!merged.has("runtime.path")) config.runtime.path = defaultRuntimePath(config.runtime.name);
  if (!merged.has("runtime.root")) {
    config.runtime.root = defaultRuntimeRoot(config.runroot, config.runtime.name);
  }
  if (!merged.has("listen")) config.listen = defaultListen(config.runroot);
  try {
    config.runtimes = resolveRuntimes(runtimes, config);
  } catch (err) {
    throw new ConfigError((err as Error).message, { cause: err });
  }
  if (!merged.has("default_runtime")) config.defaultRuntime = config.runtime.name;
  const handlers = runtimeHandlers(config);
  if (!handlers.has(config.defaultRuntime)) {
    throw new ConfigError(
      `default_runtime "${config.defaultRuntime}" names no runtime handler; configured: ` +
        [...handlers.keys()].map((h) => `"${h}"`).join(", "),
    );
  }
  return config;
}
