/**
 * The one table of configuration keys: TOML name, place in {@linkcode Config}, value kind
 * and a one-line description. `load.ts` validates with it, `toml.ts` prints with it, so a new
 * key is one new row here (plus its field in `types.ts` and its default in `defaults.ts`).
 *
 * @module
 */
import { isIP } from "node:net";
import { isAbsolute } from "node:path";
import type { Config } from "./types.ts";
import { isPort } from "../port.ts";
import { parseUlimits, ULIMIT_NAMES } from "../spec/ulimits.ts";
import { normalizeCapability } from "../spec/capabilities.ts";
import { parseDefaultSysctls } from "../spec/sysctl.ts";
import { isPinnedPattern } from "../image/pinned.ts";
import { isStrings } from "../json_shape.ts";

/** What values a key accepts. */
export type FieldKind =
  | { type: "path" }
  | { type: "paths" }
  | { type: "socket" }
  | { type: "strings" }
  | { type: "string" }
  | { type: "bool" }
  | { type: "seconds" }
  | { type: "count" }
  | { type: "ip" }
  | { type: "port" }
  | { type: "ulimits" }
  | { type: "capabilities" }
  | { type: "sysctls" }
  | { type: "env" }
  | { type: "optionalPath" }
  | { type: "imagePatterns" }
  | { type: "enum"; values: readonly string[] };

/** One configuration key. */
export interface FieldSpec {
  /** Dotted TOML key: `root`, `runtime.name`. */
  key: string;
  /** Table (`""` for the top level) and key inside it, in TOML spelling. */
  table: string;
  name: string;
  /** Place in {@linkcode Config}: one or two property names. */
  path: readonly [string] | readonly [string, string];
  kind: FieldKind;
  /** One line for `ocid.conf.example` and `ocid config`. */
  doc: string;
}

/** Log levels accepted by `log_level` and `conmon.log_level`. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

function field(
  key: string,
  path: FieldSpec["path"],
  kind: FieldKind,
  doc: string,
): FieldSpec {
  const dot = key.indexOf(".");
  const table = dot < 0 ? "" : key.slice(0, dot);
  const name = dot < 0 ? key : key.slice(dot + 1);
  return { key, table, name, path, kind, doc };
}

const path: FieldKind = { type: "path" };

/** Every key, top-level keys first, then tables in printing order. */
export const FIELDS: readonly FieldSpec[] = [
  field("root", ["root"], path, "Persistent state: records of pods and containers, images."),
  field("runroot", ["runroot"], path, "Volatile state: socket, runtime state, exit files."),
  field(
    "listen",
    ["listen"],
    { type: "socket" },
    "Path of the CRI unix socket (a `unix://` URL also works). Default: <runroot>/ocid.sock.",
  ),
  field("log_level", ["logLevel"], { type: "enum", values: LOG_LEVELS }, "Daemon log level."),
  field("pod_log_dir", ["podLogDir"], path, "Pod log directory base when a request gives none."),
  field(
    "stream_address",
    ["streamAddress"],
    { type: "ip" },
    "IP address of the Exec/Attach/PortForward streaming server; keep it on loopback unless needed.",
  ),
  field(
    "stream_port",
    ["streamPort"],
    { type: "port" },
    "TCP port of the streaming server; 0 picks a free port at start.",
  ),
  field(
    "metrics_address",
    ["metricsAddress"],
    { type: "ip" },
    "IP address of the Prometheus /metrics endpoint.",
  ),
  field(
    "metrics_port",
    ["metricsPort"],
    { type: "port" },
    "TCP port of the Prometheus /metrics endpoint; 0 turns metrics off.",
  ),
  field(
    "default_runtime",
    ["defaultRuntime"],
    { type: "string" },
    "RuntimeClass handler of pods that name none: runtime.name or a [runtimes.<handler>] table.",
  ),
  field(
    "cgroup_manager",
    ["cgroupManager"],
    { type: "enum", values: ["cgroupfs", "systemd"] },
    'Default: "systemd" when systemd is PID 1, else "cgroupfs".',
  ),
  field(
    "restrict_oom_score_adj",
    ["restrictOomScoreAdj"],
    { type: "bool" },
    "Clamp a requested oom_score_adj to the daemon's own. Default: on without CAP_SYS_RESOURCE.",
  ),
  field(
    "drop_infra_ctr",
    ["dropInfraCtr"],
    { type: "bool" },
    "Run pods that share no PID namespace without an infra process (namespaces pinned as files).",
  ),
  field(
    "sweep_interval",
    ["sweepIntervalSeconds"],
    { type: "seconds" },
    "Seconds between garbage sweeps while serving (failed CNI DELs retried); 0: none.",
  ),
  field(
    "default_env",
    ["defaultEnv"],
    { type: "env" },
    'Environment of every container, e.g. "HTTP_PROXY=http://proxy:3128"; image and pod win.',
  ),
  field(
    "default_capabilities",
    ["defaultCapabilities"],
    { type: "capabilities" },
    "Capabilities every container starts from, before its own adds and drops.",
  ),
  field(
    "seccomp_profile",
    ["seccompProfile"],
    { type: "optionalPath" },
    'The node\'s RuntimeDefault seccomp profile (OCI or Docker form); "": the built-in one.',
  ),
  field(
    "default_ulimits",
    ["defaultUlimits"],
    { type: "ulimits" },
    'Limits of every container, e.g. "nofile=1048576:1048576"; none: the daemon\'s own.',
  ),
  field(
    "default_sysctls",
    ["defaultSysctls"],
    { type: "sysctls" },
    'Sysctls of every pod, e.g. "net.ipv4.ip_unprivileged_port_start=0"; the pod\'s own win.',
  ),
  field(
    "device_ownership_from_security_context",
    ["deviceOwnershipFromSecurityContext"],
    { type: "bool" },
    "Devices of a container are owned by its run_as_user and run_as_group, not the host's owner.",
  ),
  field(
    "read_only",
    ["readOnly"],
    { type: "bool" },
    "Every container's rootfs read-only, with tmpfs at /run, /tmp and /var/tmp.",
  ),
  field(
    "absent_mount_sources_to_reject",
    ["absentMountSourcesToReject"],
    { type: "paths" },
    "Host paths a mount may not have made for it when missing: the container is refused.",
  ),
  field(
    "hooks_dir",
    ["hooksDir"],
    { type: "paths" },
    "OCI hook dirs (containers-oci-hooks(5) .json files), lowest priority first.",
  ),
  field(
    "enable_cdi",
    ["enableCdi"],
    { type: "bool" },
    "Give containers the CDI devices they ask for (CDI_devices, cdi.k8s.io/ annotations).",
  ),
  field(
    "cdi_spec_dirs",
    ["cdiSpecDirs"],
    { type: "paths" },
    "CDI spec dirs (.json and .yaml files), lowest priority first.",
  ),
  field(
    "runtime.name",
    ["runtime", "name"],
    { type: "enum", values: ["runc", "crun"] },
    "OCI runtime.",
  ),
  field("runtime.path", ["runtime", "path"], path, "Runtime binary. Default follows the name."),
  field("runtime.root", ["runtime", "root"], path, "Runtime state dir. Default: <runroot>/<name>."),
  field(
    "runtime.allowed_annotations",
    ["runtime", "allowedAnnotations"],
    { type: "strings" },
    "Annotation keys or prefixes a runtime or ocid acts on (org.systemd.property., run.oci., " +
      "io.ocid., io.kubernetes.cri.) that pods and containers may still set; others are dropped.",
  ),
  field("conmon.path", ["conmon", "path"], path, "conmon binary."),
  field(
    "conmon.log_level",
    ["conmon", "logLevel"],
    { type: "enum", values: LOG_LEVELS },
    "Log level passed to conmon.",
  ),
  field("pause.binary", ["pause", "binary"], path, "Copied into the infra rootfs as /pause."),
  field("pause.args", ["pause", "args"], { type: "strings" }, "Arguments after /pause."),
  field(
    "pause.image",
    ["pause", "image"],
    { type: "string" },
    'Pause image from a registry instead of the binary; "" for the binary.',
  ),
  field(
    "cni.config_dir",
    ["cni", "configDir"],
    path,
    "CNI network configs; ocid never writes here.",
  ),
  field("cni.plugin_dirs", ["cni", "pluginDirs"], { type: "paths" }, "Where CNI plugins are."),
  field(
    "cni.use_internal_loopback",
    ["cni", "useInternalLoopback"],
    { type: "bool" },
    "Bring lo up in-process, not with the loopback plugin (needs FFI; else the plugin runs).",
  ),
  field(
    "cni.skip_idle_portmap",
    ["cni", "skipIdlePortmap"],
    { type: "bool" },
    "Do not run the portmap plugin for pods without host ports (it would pass through).",
  ),
  field(
    "image.registries_conf",
    ["image", "registriesConf"],
    path,
    "containers-registries.conf(5) file.",
  ),
  field(
    "image.insecure_registries",
    ["image", "insecureRegistries"],
    { type: "strings" },
    "Registry hosts reached over plain HTTP (any port).",
  ),
  field(
    "image.global_auth_file",
    ["image", "globalAuthFile"],
    { type: "optionalPath" },
    'Registry credentials (containers-auth.json) for pulls that bring none; "": none.',
  ),
  field(
    "image.signature_policy",
    ["image", "signaturePolicy"],
    { type: "optionalPath" },
    'containers-policy.json(5) file every pull is checked against; "": every image accepted.',
  ),
  field(
    "image.signature_policy_dir",
    ["image", "signaturePolicyDir"],
    { type: "optionalPath" },
    "Per pod namespace policies: <dir>/<namespace>.json, when it exists, replaces the above.",
  ),
  field(
    "image.image_volumes",
    ["image", "imageVolumes"],
    { type: "enum", values: ["mkdir", "bind", "ignore"] },
    "An image's own VOLUMEs: mkdir them in the rootfs, bind a new dir there, or ignore them.",
  ),
  field(
    "image.max_concurrent_downloads",
    ["image", "maxConcurrentDownloads"],
    { type: "count" },
    "The most layer blobs one pull downloads at once.",
  ),
  field(
    "image.pull_progress_timeout",
    ["image", "pullProgressTimeoutSeconds"],
    { type: "seconds" },
    "Seconds without progress before a pull fails.",
  ),
  field(
    "image.pinned_images",
    ["image", "pinnedImages"],
    { type: "imagePatterns" },
    'Images kubelet\'s GC leaves: names, "registry.k8s.io/*" or "*pause*" (the pause image is).',
  ),
  field(
    "image.storage_driver",
    ["image", "storageDriver"],
    { type: "enum", values: ["overlay", "vfs"] },
    "Image layer storage driver.",
  ),
];

/** TOML table names, in printing order. */
export const TABLES: readonly string[] = [...new Set(FIELDS.map((f) => f.table))].filter(
  (t) => t !== "",
);

/** Describes what a kind accepts, for error messages: `expected "runc" or "crun"`. */
export function describeKind(kind: FieldKind): string {
  switch (kind.type) {
    case "path":
      return "expected an absolute path";
    case "paths":
      return "expected an array of absolute paths";
    case "socket":
      return 'expected an absolute path or a "unix://" URL';
    case "strings":
      return "expected an array of strings";
    case "string":
      return "expected a string";
    case "bool":
      return "expected true or false";
    case "seconds":
      return "expected a positive whole number of seconds";
    case "count":
      return "expected a whole number from 1 to 64";
    case "ip":
      return "expected an IPv4 or IPv6 address";
    case "port":
      return "expected a port number from 0 to 65535";
    case "imagePatterns":
      return 'expected an array of image names, "name*" or "*word*"';
    case "optionalPath":
      return 'expected an absolute path or ""';
    case "env":
      return 'expected an array of "NAME=value" (a name without "=", no NUL)';
    case "sysctls":
      return 'expected an array of "name=value" of namespaced sysctls (net.*, kernel.shm*, ' +
        "kernel.msg*, kernel.sem, fs.mqueue.*), each name once";
    case "capabilities":
      return 'expected an array of capability names ("CAP_NET_RAW" or "NET_RAW"), no "ALL"';
    case "ulimits":
      return `expected an array of "name=soft[:hard]" with whole numbers, soft at most hard, ` +
        `each name once, names: ${ULIMIT_NAMES.join(", ")}`;
    case "enum": {
      const quoted = kind.values.map((v) => `"${v}"`);
      return quoted.length <= 2
        ? `expected ${quoted.join(" or ")}`
        : `expected one of ${quoted.join(", ")}`;
    }
  }
}

/**
 * Checks one value against a kind.
 *
 * @returns the value (a fresh array for array kinds), or `undefined` when it does not fit
 */
export function checkValue(kind: FieldKind, value: unknown): unknown {
  const isAbsPath = (v: unknown): v is string =>
    typeof v === "string" && v !== "" && isAbsolute(v) && !v.includes("\0");
  switch (kind.type) {
    case "path":
      return isAbsPath(value) ? value : undefined;
    case "paths":
      return Array.isArray(value) && value.every(isAbsPath) ? [...value] : undefined;
    case "socket": {
      const p = typeof value === "string" ? socketPath(value) : undefined;
      return isAbsPath(p) ? p : undefined;
    }
    case "strings":
      return isStrings(value) ? [...value] : undefined;
    case "string":
      return typeof value === "string" ? value : undefined;
    case "bool":
      return typeof value === "boolean" ? value : undefined;
    case "seconds":
      return typeof value === "number" && Number.isSafeInteger(value) && value > 0
        ? value
        : undefined;
    case "count":
      return typeof value === "number" && Number.isSafeInteger(value) && value >= 1 &&
          value <= 64
        ? value
        : undefined;
    case "enum":
      return typeof value === "string" && kind.values.includes(value) ? value : undefined;
    case "ip":
      return typeof value === "string" && isIP(value) !== 0 ? value : undefined;
    case "port":
      return typeof value === "number" && isPort(value, 0) ? value : undefined;
    case "imagePatterns":
      return isStrings(value) && value.every(isPinnedPattern) ? [...value] : undefined;
    case "optionalPath":
      return value === "" || isAbsPath(value) ? value : undefined;
    case "env":
      return isStrings(value) && value.every((v) => v.indexOf("=") > 0 && !v.includes("\0"))
        ? [...value]
        : undefined;
    case "sysctls":
      return isStrings(value) && parseDefaultSysctls(value) !== undefined ? [...value] : undefined;
    case "capabilities":
      return isStrings(value) ? capabilityNames(value) : undefined;
    case "ulimits":
      return isStrings(value) && parseUlimits(value) !== undefined ? [...value] : undefined;
  }
}

/** Capability names as `CAP_X`, each once in the order given; undefined for an unknown or ALL. */
function capabilityNames(names: readonly string[]): string[] | undefined {
  const out: string[] = [];
  for (const name of names) {
    let full: string;
    try {
      full = normalizeCapability(name, "default_capabilities");
    } catch {
      return undefined;
    }
    if (full === "ALL") return undefined;
    if (!out.includes(full)) out.push(full);
  }
  return out;
}

/** Reads a field's value out of a config. */
export function getField(config: Config, spec: FieldSpec): unknown {
  let v: unknown = config;
  for (const p of spec.path) v = (v as Record<string, unknown>)[p];
  return v;
}

/** Sets a field's value in a (partial) config object, creating the table object. */
export function setField(target: Record<string, unknown>, spec: FieldSpec, value: unknown): void {
  const [first, second] = spec.path;
  if (second === undefined) {
    target[first] = value;
    return;
  }
  const table = (target[first] ??= {}) as Record<string, unknown>;
  table[second] = value;
}

/** The path of a `unix://` URL (`unix:///run/ocid/ocid.sock`), or the string itself. */
export function socketPath(listen: string): string {
  return listen.startsWith("unix://") ? listen.slice("unix://".length) : listen;
}
