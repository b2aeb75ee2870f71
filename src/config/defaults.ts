/**
 * The embedded defaults (the `@default` tags of {@linkcode Config}) and the two that depend on
 * the host: the cgroup manager and whether to restrict `oom_score_adj`.
 *
 * @module
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./types.ts";
import { DEFAULT_CAPABILITIES } from "../spec/default.ts";

/** What the defaults need to know about the host; tests pass a fake. */
export interface HostProbe {
  /** True when systemd manages the host: `/run/systemd/system` exists and PID 1 is systemd. */
  systemdIsInit(): boolean;
  /** True when this process has CAP_SYS_RESOURCE in its effective set. */
  hasCapSysResource(): boolean;
}

/** Bit of CAP_SYS_RESOURCE in the capability sets of `/proc/<pid>/status`. */
const CAP_SYS_RESOURCE = 24n;

/** Reads the host through /proc and /run. */
export const procHostProbe: HostProbe = {
  systemdIsInit() {
    try {
      if (!statSync("/run/systemd/system").isDirectory()) return false;
      return readFileSync("/proc/1/comm", "utf8").trim() === "systemd";
    } catch {
      return false;
    }
  },
  hasCapSysResource() {
    try {
      return capEffHas(readFileSync("/proc/self/status", "utf8"), CAP_SYS_RESOURCE);
    } catch {
      return false;
    }
  },
};

/**
 * Tells whether the `CapEff:` line of a `/proc/<pid>/status` text has a capability bit.
 *
 * @param status the text of `/proc/<pid>/status`
 * @param bit the capability number (CAP_SYS_RESOURCE is 24)
 * @returns false when the line is missing or unreadable
 */
export function capEffHas(status: string, bit: bigint): boolean {
  const match = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  if (!match?.[1]) return false;
  return ((BigInt(`0x${match[1]}`) >> bit) & 1n) === 1n;
}

/** Default runtime binary for a runtime name. */
export function defaultRuntimePath(name: Config["runtime"]["name"]): string {
  return name === "crun" ? "/usr/bin/crun" : "/usr/sbin/runc";
}

/** Default runtime state dir: `<runroot>/<name>`. */
export function defaultRuntimeRoot(runroot: string, name: Config["runtime"]["name"]): string {
  return join(runroot, name);
}

/** Default CRI socket: `<runroot>/ocid.sock`. */
export function defaultListen(runroot: string): string {
  return join(runroot, "ocid.sock");
}

/** Options of {@linkcode defaultConfig}. */
export interface DefaultConfigOptions {
  /** Where host facts come from. @default procHostProbe */
  host?: HostProbe;
}

/**
 * Builds the default configuration, probing the host for the cgroup manager and for
 * CAP_SYS_RESOURCE.
 *
 * @returns a fresh, fully resolved Config
 * @example
 * ```ts
 * const config = defaultConfig();
 * config.runtime.path; // "/usr/sbin/runc"
 * ```
 */
export function defaultConfig(options: DefaultConfigOptions = {}): Config {
  const host = options.host ?? procHostProbe;
  const runroot = "/run/ocid";
  return {
    root: "/var/lib/ocid",
    runroot,
    listen: defaultListen(runroot),
    logLevel: "info",
    podLogDir: "/var/log/ocid/pods",
    streamAddress: "127.0.0.1",
    streamPort: 0,
    metricsAddress: "127.0.0.1",
    metricsPort: 0,
    runtime: {
      name: "runc",
      path: defaultRuntimePath("runc"),
      root: defaultRuntimeRoot(runroot, "runc"),
      allowedAnnotations: [],
    },
    defaultRuntime: "runc",
    runtimes: {},
    conmon: { path: "/usr/bin/conmon", logLevel: "info" },
    pause: { binary: "/usr/bin/catatonit", args: ["-P"], image: "" },
    cni: {
      configDir: "/etc/cni/net.d",
      pluginDirs: ["/usr/lib/cni", "/opt/cni/bin"],
      useInternalLoopback: true,
      skipIdlePortmap: true,
    },
    cgroupManager: host.systemdIsInit() ? "systemd" : "cgroupfs",
    restrictOomScoreAdj: !host.hasCapSysResource(),
    dropInfraCtr: true,
    sweepIntervalSeconds: 600,
    defaultEnv: [],
    defaultCapabilities: [...DEFAULT_CAPABILITIES],
    seccompProfile: "",
    defaultUlimits: [],
    defaultSysctls: [],
    deviceOwnershipFromSecurityContext: false,
    readOnly: false,
    absentMountSourcesToReject: [],
    hooksDir: ["/usr/share/containers/oci/hooks.d"],
    enableCdi: true,
    cdiSpecDirs: ["/etc/cdi", "/var/run/cdi"],
    image: {
      registriesConf: "/etc/containers/registries.conf",
      insecureRegistries: ["localhost", "127.0.0.1"],
      pinnedImages: [],
      globalAuthFile: "",
      signaturePolicy: "",
      signaturePolicyDir: "",
      imageVolumes: "mkdir",
      maxConcurrentDownloads: 3,
      pullProgressTimeoutSeconds: 60,
      storageDriver: "overlay",
    },
  };
}
