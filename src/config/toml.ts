/**
 * Prints a {@linkcode Config} as the TOML that {@linkcode loadConfig} reads back to the same
 * Config (what `ocid config` prints).
 *
 * @module
 */
import { FIELDS, type FieldSpec, getField, TABLES } from "./_schema.ts";
import type { Config } from "./types.ts";

/** Options of {@linkcode configToToml}. */
export interface ConfigToTomlOptions {
  /** Put each key's description above it as a `#` comment. @default false */
  comments?: boolean;
  /**
   * Dotted keys printed commented out (`# runtime.root = ...`), so that their defaults stay
   * derived or detected when the text is loaded. @default []
   */
  commentOut?: readonly string[];
}

/** Quotes a string as a TOML basic string. */
export function tomlString(s: string): string {
  // JSON escapes are valid TOML escapes; TOML also forbids a raw DEL.
  return JSON.stringify(s).replaceAll("\x7f", "\\u007f");
}

function tomlValue(v: unknown): string {
  if (typeof v === "string") return tomlString(v);
  if (typeof v === "boolean" || typeof v === "number") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  throw new TypeError(`Cannot print ${JSON.stringify(v)} as a TOML value`);
}

/**
 * Prints a configuration as TOML, every key explicit.
 *
 * @param config a resolved configuration
 * @param options comments and keys to comment out
 * @returns TOML text ending in a newline
 * @example
 * ```ts
 * const text = configToToml(await loadConfig());
 * ```
 */
export function configToToml(config: Config, options: ConfigToTomlOptions = {}): string {
  const { comments = false, commentOut = [] } = options;
  const lines: string[] = [];
  const print = (f: FieldSpec) => {
    if (comments) lines.push(`# ${f.doc}`);
    const line = `${f.name} = ${tomlValue(getField(config, f))}`;
    lines.push(commentOut.includes(f.key) ? `# ${line}` : line);
    if (comments) lines.push("");
  };
  for (const f of FIELDS) if (f.table === "") print(f);
  for (const table of TABLES) {
    if (lines.length > 0 && lines.at(-1) !== "") lines.push("");
    lines.push(`[${table}]`);
    if (comments) lines.push("");
    for (const f of FIELDS) if (f.table === table) print(f);
  }
  for (const [handler, h] of Object.entries(config.runtimes)) {
    if (lines.length > 0 && lines.at(-1) !== "") lines.push("");
    lines.push(`[runtimes.${handler}]`);
    lines.push(`runtime_path = ${tomlValue(h.runtimePath)}`);
    lines.push(`runtime_root = ${tomlValue(h.runtimeRoot)}`);
    lines.push(`runtime_type = ${tomlValue(h.runtimeType)}`);
    lines.push(`monitor_path = ${tomlValue(h.monitorPath)}`);
    lines.push(`allowed_annotations = ${tomlValue(h.allowedAnnotations)}`);
    lines.push(`privileged_without_host_devices = ${tomlValue(h.privilegedWithoutHostDevices)}`);
  }
  while (lines.at(-1) === "") lines.pop();
  return lines.join("\n") + "\n";
}
