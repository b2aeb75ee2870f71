/**
 * The command line: `ocid [serve|config|doctor|version|help] [flags]`.
 *
 * Parsing only checks spelling and value kinds; {@linkcode loadConfig} applies the flags over
 * the configuration files.
 *
 * @module
 */
import { basename, resolve } from "node:path";
import { isIP } from "node:net";
import { parseArgs } from "node:util";
import type { LogLevel } from "../log.ts";
import { LOG_LEVELS, socketPath } from "./_schema.ts";
import type { Config } from "./types.ts";
import { isPort } from "../port.ts";

/** Values of the flags that change the configuration. Paths are absolute. */
export interface FlagValues {
  /** `--config`: the main TOML file; its drop-ins are in `<dir>/ocid.conf.d/`. */
  config: string;
  /** `--root`: persistent state dir. */
  root: string;
  /** `--runroot`: volatile state dir. */
  runroot: string;
  /** `--listen`: a socket path (a `unix://` URL is reduced to its path). */
  listen: string;
  /** `--log-level`. */
  logLevel: LogLevel;
  /** `--cni-config-dir`. */
  cniConfigDir: string;
  /** `--cni-plugin-dir`, repeatable or colon-separated. */
  cniPluginDirs: string[];
  /** `--runtime`: path of runc or crun; the runtime name comes from the basename. */
  runtime: string;
  /** `--conmon`: conmon binary. */
  conmon: string;
  /** `--pause-image`: pause image reference. */
  pauseImage: string;
  /** `--registries-conf`. */
  registriesConf: string;
  /** `--storage-driver`. */
  storageDriver: Config["image"]["storageDriver"];
  /** `--cgroup-manager`. */
  cgroupManager: Config["cgroupManager"];
  /** `--stream-address`: IP address of the streaming server. */
  streamAddress: string;
  /** `--stream-port`: TCP port of the streaming server (0: any free port). */
  streamPort: number;
  /** `--metrics-address`: IP address of the /metrics endpoint. */
  metricsAddress: string;
  /** `--metrics-port`: TCP port of the /metrics endpoint (0: off). */
  metricsPort: number;
}

/** What to do. */
export type Command = "serve" | "config" | "doctor" | "version" | "help";

/** The parsed command line. */
export interface CommandLine {
  /** What to do; "serve" when no command is named. */
  command: Command;
  /** The flags given, checked and with absolute paths. */
  flags: Partial<FlagValues>;
}

const COMMANDS: readonly Command[] = ["serve", "config", "doctor", "version", "help"];

const OPTIONS = {
  config: { type: "string" },
  root: { type: "string" },
  runroot: { type: "string" },
  listen: { type: "string" },
  "log-level": { type: "string" },
  "cni-config-dir": { type: "string" },
  "cni-plugin-dir": { type: "string", multiple: true },
  runtime: { type: "string" },
  conmon: { type: "string" },
  "pause-image": { type: "string" },
  "registries-conf": { type: "string" },
  "storage-driver": { type: "string" },
  "cgroup-manager": { type: "string" },
  "stream-address": { type: "string" },
  "stream-port": { type: "string" },
  "metrics-address": { type: "string" },
  "metrics-port": { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "v" },
} as const;

/** The usage text of `ocid --help`. */
export function usage(): string {
  return `Usage: ocid [command] [flags]

A Kubernetes CRI runtime on conmon and runc.

Commands:
  serve              Run the CRI server (default)
  config             Print the effective configuration as TOML and exit
  doctor             Check this node for running ocid (exit status 1 when a check fails)
  version            Print the version and exit
  help               Print this help

Flags (override /etc/ocid/ocid.conf and /etc/ocid/ocid.conf.d/*.conf):
  --config PATH            Configuration file (default /etc/ocid/ocid.conf)
  --root PATH              Persistent state dir (default /var/lib/ocid)
  --runroot PATH           Volatile state dir (default /run/ocid)
  --listen PATH|URL        CRI socket path or unix:// URL (default <runroot>/ocid.sock)
  --log-level LEVEL        debug, info, warn or error (default info)
  --cni-config-dir PATH    CNI network configs (default /etc/cni/net.d)
  --cni-plugin-dir PATH    CNI plugin dir; repeat it or separate with ":"
  --runtime PATH           Path of runc or crun; the name comes from the file name
  --conmon PATH            conmon binary (default /usr/bin/conmon)
  --pause-image REF        Pause image from a registry instead of the pause binary
  --registries-conf PATH   containers-registries.conf(5) file
  --storage-driver NAME    overlay or vfs (default overlay)
  --cgroup-manager NAME    cgroupfs or systemd (default: detected)
  --stream-address IP      Exec/Attach/PortForward server address (default 127.0.0.1)
  --stream-port PORT       Streaming server port; 0 picks a free one (default 0)
  --metrics-address IP     Prometheus /metrics address (default 127.0.0.1)
  --metrics-port PORT      Prometheus /metrics port; 0 turns metrics off (default 0)
  -h, --help               Print this help
  -v, --version            Print the version
`;
}

/** Prints {@linkcode usage} to stdout. */
export function printUsage(): void {
  console.log(usage());
}

/**
 * Infers the runtime name from the binary's file name (`/usr/local/bin/crun` -> "crun").
 *
 * @returns undefined when the name contains neither "crun" nor "runc"
 */
export function runtimeNameFromPath(path: string): Config["runtime"]["name"] | undefined {
  const name = basename(path);
  if (name.includes("crun")) return "crun";
  if (name.includes("runc")) return "runc";
  return undefined;
}

function invalid(flag: string, value: string, expected: string): Error {
  return new Error(`Invalid value ${JSON.stringify(value)} for "--${flag}": ${expected}`);
}

function oneOf<T extends string>(flag: string, value: string, values: readonly T[]): T {
  if ((values as readonly string[]).includes(value)) return value as T;
  const quoted = values.map((v) => `"${v}"`);
  const expected = quoted.length <= 2
    ? `expected ${quoted.join(" or ")}`
    : `expected one of ${quoted.join(", ")}`;
  throw invalid(flag, value, expected);
}

function absPath(flag: string, value: string): string {
  if (value === "" || value.includes("\0")) throw invalid(flag, value, "expected a path");
  return resolve(value);
}

/**
 * Parses the command line (without the program name).
 *
 * @param args `Deno.args`
 * @returns the command ("serve" when none is named) and the flags given; relative paths are
 *   resolved against the working directory
 * @throws {Error} naming the flag or word that is unknown, lacks a value or has a bad value
 * @example
 * ```ts
 * parseCommandLine(["config", "--root", "/tmp/r"]);
 * // { command: "config", flags: { root: "/tmp/r" } }
 * ```
 */
export function parseCommandLine(args: string[]): CommandLine {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: string }).code;
    const unknown = code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && /'([^']+)'/.exec(message)?.[1];
    throw new Error(
      unknown
        ? `Unknown flag "${unknown}"; run "ocid --help" for usage`
        : `Invalid command line: ${message}; run "ocid --help" for usage`,
      { cause: err },
    );
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) {
    throw new Error(
      `Unexpected argument "${positionals[1]}": ocid takes at most one command`,
    );
  }
  let command: Command = "serve";
  const word = positionals[0];
  if (word !== undefined) {
    if (!(COMMANDS as readonly string[]).includes(word)) {
      throw new Error(
        `Unknown command "${word}": expected one of ${COMMANDS.join(", ")}`,
      );
    }
    command = word as Command;
  }
  if (values.help) command = "help";
  else if (values.version) command = "version";

  const flags: Partial<FlagValues> = {};
  if (values.config !== undefined) flags.config = absPath("config", values.config);
  if (values.root !== undefined) flags.root = absPath("root", values.root);
  if (values.runroot !== undefined) flags.runroot = absPath("runroot", values.runroot);
  if (values.listen !== undefined) {
    flags.listen = absPath("listen", socketPath(values.listen));
  }
  if (values["log-level"] !== undefined) {
    flags.logLevel = oneOf("log-level", values["log-level"], LOG_LEVELS);
  }
  if (values["cni-config-dir"] !== undefined) {
    flags.cniConfigDir = absPath("cni-config-dir", values["cni-config-dir"]);
  }
  if (values["cni-plugin-dir"] !== undefined) {
    flags.cniPluginDirs = values["cni-plugin-dir"]
      .flatMap((v) => v.split(":"))
      .filter((v) => v !== "")
      .map((v) => absPath("cni-plugin-dir", v));
    if (flags.cniPluginDirs.length === 0) {
      throw invalid("cni-plugin-dir", values["cni-plugin-dir"].join(":"), "expected a path");
    }
  }
  if (values.runtime !== undefined) {
    flags.runtime = absPath("runtime", values.runtime);
    if (runtimeNameFromPath(flags.runtime) === undefined) {
      throw invalid(
        "runtime",
        values.runtime,
        'expected a path whose file name contains "runc" or "crun"',
      );
    }
  }
  if (values.conmon !== undefined) flags.conmon = absPath("conmon", values.conmon);
  if (values["pause-image"] !== undefined) flags.pauseImage = values["pause-image"];
  if (values["registries-conf"] !== undefined) {
    flags.registriesConf = absPath("registries-conf", values["registries-conf"]);
  }
  if (values["storage-driver"] !== undefined) {
    flags.storageDriver = oneOf("storage-driver", values["storage-driver"], ["overlay", "vfs"]);
  }
  if (values["cgroup-manager"] !== undefined) {
    flags.cgroupManager = oneOf("cgroup-manager", values["cgroup-manager"], [
      "cgroupfs",
      "systemd",
    ]);
  }
  const address = ipFlag(values, "stream-address");
  if (address !== undefined) flags.streamAddress = address;
  const port = portFlag(values, "stream-port");
  if (port !== undefined) flags.streamPort = port;
  const metricsAddress = ipFlag(values, "metrics-address");
  if (metricsAddress !== undefined) flags.metricsAddress = metricsAddress;
  const metricsPort = portFlag(values, "metrics-port");
  if (metricsPort !== undefined) flags.metricsPort = metricsPort;
  return { command, flags };
}

function ipFlag(values: Record<string, unknown>, flag: string): string | undefined {
  const text = values[flag];
  if (typeof text !== "string") return undefined;
  if (isIP(text) === 0) throw invalid(flag, text, "expected an IPv4 or IPv6 address");
  return text;
}

function portFlag(values: Record<string, unknown>, flag: string): number | undefined {
  const text = values[flag];
  if (typeof text !== "string") return undefined;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!isPort(port, 0)) {
    throw invalid(flag, text, "expected a port number from 0 to 65535");
  }
  return port;
}
