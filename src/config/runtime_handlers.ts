/**
 * RuntimeClass handlers, as CRI-O's `[crio.runtime.runtimes.<handler>]`: the `[runtimes.<name>]`
 * tables of the TOML (parsed here, key by key, so drop-ins override single keys), their defaults,
 * and {@linkcode runtimeHandlers}, which adds the `[runtime]` table as the handler named
 * `runtime.name` and resolves `default_runtime`.
 *
 * @module
 */
import { isAbsolute, join } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import { defaultRuntimePath } from "./defaults.ts";
import { runtimeNameFromPath } from "./flags.ts";
import type { Config, RuntimeHandlerConfig } from "./types.ts";

/** A handler name: what a RuntimeClass's `handler` may be (a DNS label). */
export const HANDLER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** The keys of a `[runtimes.<handler>]` table and where they go. */
const KEYS: Record<
  string,
  { prop: keyof RuntimeHandlerConfig; check: (v: unknown) => unknown; want: string }
> = {
  runtime_path: { prop: "runtimePath", check: absPath, want: "an absolute path" },
  runtime_root: { prop: "runtimeRoot", check: absPath, want: "an absolute path" },
  runtime_type: {
    prop: "runtimeType",
    check: (v) => (v === "oci" ? v : undefined),
    want: '"oci" (the only runtime type ocid runs)',
  },
  monitor_path: { prop: "monitorPath", check: absPath, want: "an absolute path" },
  allowed_annotations: {
    prop: "allowedAnnotations",
    check: (
      v,
    ) => (Array.isArray(v) && v.every((s) => typeof s === "string" && s !== "")
      ? [...v]
      : undefined),
    want: "an array of annotation names or prefixes",
  },
  privileged_without_host_devices: {
    prop: "privilegedWithoutHostDevices",
    check: (v) => (typeof v === "boolean" ? v : undefined),
    want: "true or false",
  },
};

/** The TOML names of a handler table's keys, in printing order. */
export const HANDLER_KEYS: readonly string[] = Object.keys(KEYS);

function absPath(v: unknown): unknown {
  return typeof v === "string" && isAbsolute(v) && !v.includes("\0") ? v : undefined;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Validates the `runtimes` table of one TOML file.
 *
 * @param value the parsed value of the `runtimes` key
 * @param source the file, for messages
 * @returns entries `runtimes.<handler>.<key>` -> checked value
 * @throws {Error} naming the file, handler and key (the caller wraps it as a ConfigError)
 */
export function parseRuntimesTable(value: unknown, source: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!isTable(value)) {
    throw new Error(`Invalid value for "runtimes" in ${source}: expected tables`);
  }
  for (const [handler, table] of Object.entries(value)) {
    if (!HANDLER_NAME.test(handler)) {
      throw new Error(
        `Invalid runtime handler name "${handler}" in ${source}: expected a DNS label ` +
          "(lower-case letters, digits and '-')",
      );
    }
    if (!isTable(table)) {
      throw new Error(`Invalid value for "runtimes.${handler}" in ${source}: expected a table`);
    }
    for (const [key, v] of Object.entries(table)) {
      const spec = KEYS[key];
      if (!spec) {
        throw new Error(
          `Unknown key "runtimes.${handler}.${key}" in ${source}; ` +
            `expected one of ${HANDLER_KEYS.join(", ")}`,
        );
      }
      const checked = spec.check(v);
      if (checked === undefined) {
        throw new Error(
          `Invalid value for "runtimes.${handler}.${key}" in ${source}: expected ${spec.want}`,
        );
      }
      out.set(`runtimes.${handler}.${key}`, checked);
    }
    // A handler table with no keys still declares the handler.
    out.set(`runtimes.${handler}`, true);
  }
  return out;
}

/**
 * Builds `config.runtimes` from merged `runtimes.*` entries, filling each handler's defaults.
 *
 * @throws {Error} when a handler lacks `runtime_path` and its name is neither runc nor crun
 */
export function resolveRuntimes(
  entries: ReadonlyMap<string, unknown>,
  config: Pick<Config, "runroot" | "conmon">,
): Record<string, RuntimeHandlerConfig> {
  const handlers: Record<string, RuntimeHandlerConfig> = {};
  for (const [key] of entries) {
    const handler = key.split(".")[1]!;
    if (handlers[handler]) continue;
    const get = (k: string) => entries.get(`runtimes.${handler}.${k}`);
    const named = runtimeNameFromPath(handler);
    const path = (get("runtime_path") as string | undefined) ??
      (named ? defaultRuntimePath(named) : undefined);
    if (path === undefined) {
      throw new Error(
        `Runtime handler "${handler}" needs runtime_path (only handlers named after runc or crun ` +
          "have a default)",
      );
    }
    handlers[handler] = {
      runtimePath: path,
      runtimeRoot: (get("runtime_root") as string | undefined) ?? join(config.runroot, handler),
      runtimeType: "oci",
      monitorPath: (get("monitor_path") as string | undefined) ?? config.conmon.path,
      allowedAnnotations: (get("allowed_annotations") as string[] | undefined) ?? [],
      privilegedWithoutHostDevices:
        (get("privileged_without_host_devices") as boolean | undefined) ??
          false,
    };
  }
  return handlers;
}

/**
 * Every handler ocid serves: the `[runtime]` table as `runtime.name` (unless a
 * `[runtimes.<runtime.name>]` table replaces it) and each `[runtimes.<handler>]`.
 *
 * @returns handlers by name, sorted by name
 */
export function runtimeHandlers(config: Config): Map<string, RuntimeHandlerConfig> {
  const all: Record<string, RuntimeHandlerConfig> = {
    [config.runtime.name]: {
      runtimePath: config.runtime.path,
      runtimeRoot: config.runtime.root,
      runtimeType: "oci",
      monitorPath: config.conmon.path,
      allowedAnnotations: config.runtime.allowedAnnotations,
      privilegedWithoutHostDevices: false,
    },
    ...config.runtimes,
  };
  return new Map(Object.keys(all).sort().map((name) => [name, all[name]!]));
}

/**
 * The handler a pod asked for: `""` means `default_runtime`.
 *
 * @returns the handler's name and configuration, or undefined when none is configured by that name
 */
export function findRuntimeHandler(
  config: Config,
  requested: string,
): { name: string; handler: RuntimeHandlerConfig } | undefined {
  const name = requested === "" ? config.defaultRuntime : requested;
  const handler = runtimeHandlers(config).get(name);
  return handler ? { name, handler } : undefined;
}

/**
 * The configured handler a request names, for RunPodSandbox and PullImage (whose
 * `image.runtime_handler` the CRI says an unknown value of is rejected).
 *
 * @param what The request's field, for the message.
 * @throws {InvalidArgumentError} naming the handlers there are
 */
export function requireRuntimeHandler(
  config: Config,
  requested: string,
  what = "runtime handler",
): { name: string; handler: RuntimeHandlerConfig } {
  const found = findRuntimeHandler(config, requested);
  if (found) return found;
  const configured = [...runtimeHandlers(config).keys()].map((h) => `"${h}"`);
  throw new InvalidArgumentError(
    `Unknown ${what} "${requested}"; configured: ${configured.join(", ")} ` +
      `("" is "${config.defaultRuntime}")`,
  );
}

/**
 * The restricted annotation keys (or prefixes) a pod of this handler may set
 * (`allowed_annotations`; see `spec/annotation_filter.ts`). An unknown handler allows none.
 *
 * @param config The daemon's configuration.
 * @param requested The pod's runtime handler (`""` means `default_runtime`).
 * @returns The handler's allow list.
 */
export function allowedAnnotationsFor(config: Config, requested: string): readonly string[] {
  return findRuntimeHandler(config, requested)?.handler.allowedAnnotations ?? [];
}
