/**
 * ocid's configuration: the resolved {@linkcode Config}, its embedded defaults, the TOML file
 * with drop-ins, and the command line.
 *
 * ```ts
 * const { command, flags } = parseCommandLine(Deno.args);
 * const config = await loadConfig({ flags });
 * if (command === "config") console.log(configToToml(config));
 * ```
 *
 * @module
 */
export type { Config, RuntimeHandlerConfig } from "./types.ts";
export {
  allowedAnnotationsFor,
  findRuntimeHandler,
  HANDLER_NAME,
  runtimeHandlers,
} from "./runtime_handlers.ts";
export {
  capEffHas,
  defaultConfig,
  type DefaultConfigOptions,
  defaultListen,
  defaultRuntimePath,
  defaultRuntimeRoot,
  type HostProbe,
  procHostProbe,
} from "./defaults.ts";
export {
  ConfigError,
  type ConfigFs,
  DEFAULT_CONFIG_PATH,
  denoConfigFs,
  dropInDir,
  loadConfig,
  type LoadConfigOptions,
  parseConfigToml,
} from "./load.ts";
export {
  type Command,
  type CommandLine,
  type FlagValues,
  parseCommandLine,
  printUsage,
  runtimeNameFromPath,
  usage,
} from "./flags.ts";
export { configToToml, type ConfigToTomlOptions, tomlString } from "./toml.ts";
