/**
 * The resolved configuration: every field set. Built by `loadConfig` from the embedded
 * defaults, the TOML file and its drop-ins, then the command-line flags (last wins).
 *
 * @module
 */
import type { LogLevel } from "../log.ts";

/** The resolved configuration of one ocid instance. */
export interface Config {
  /** Persistent state (TOML `root`). @default "/var/lib/ocid" */
  root: string;
  /** Volatile state: socket, runtime state, exit files, netns (TOML `runroot`). @default "/run/ocid" */
  runroot: string;
  /** Path of the CRI unix socket (TOML `listen`). @default "/run/ocid/ocid.sock" */
  listen: string;
  /** TOML `log_level`. @default "info" */
  logLevel: LogLevel;
  /** Pod log directory base when a request gives none (TOML `pod_log_dir`). @default "/var/log/ocid/pods" */
  podLogDir: string;
  /** IP address of the streaming server (TOML `stream_address`). @default "127.0.0.1" */
  streamAddress: string;
  /** TCP port of the streaming server; 0 picks a free one (TOML `stream_port`). @default 0 */
  streamPort: number;
  /** `[runtime]` */
  runtime: {
    /** `name`: "runc" or "crun". @default "runc" */
    name: "runc" | "crun";
    /** `path` of the runtime binary. @default "/usr/sbin/runc" (crun: "/usr/bin/crun") */
    path: string;
    /** `root`: the runtime's state dir. @default "<runroot>/<name>" */
    root: string;
    /**
     * `allowed_annotations`: keys or key prefixes of annotations a runtime or ocid acts on
     * (`org.systemd.property.`, `run.oci.`, `io.ocid.`, `io.kubernetes.cri.`) that a pod or
     * container may still pass to `config.json`. @default []
     */
    allowedAnnotations: string[];
  };
  /** `[conmon]` */
  conmon: {
    /** `path`. @default "/usr/bin/conmon" */
    path: string;
    /** `log_level` passed to conmon. @default "info" */
    logLevel: LogLevel;
  };
  /** `[pause]` */
  pause: {
    /** `binary` copied into the infra rootfs as /pause. @default "/usr/bin/catatonit" */
    binary: string;
    /** `args` after /pause. @default ["-P"] */
    args: string[];
    /** `image`: a pause image from a registry instead of the binary; "" for the binary. @default "" */
    image: string;
  };
  /** `[cni]` */
  cni: {
    /** `config_dir`; ocid never writes here. @default "/etc/cni/net.d" */
    configDir: string;
    /** `plugin_dirs`. @default ["/usr/lib/cni", "/opt/cni/bin"] */
    pluginDirs: string[];
  };
  /** `cgroup_manager`: "cgroupfs" or "systemd"; default detected at start. */
  cgroupManager: "cgroupfs" | "systemd";
  /** `restrict_oom_score_adj`: clamp requested oom_score_adj to the daemon's own. Default: on when CAP_SYS_RESOURCE is missing. */
  restrictOomScoreAdj: boolean;
  /** `[image]` */
  image: {
    /** `registries_conf`: containers-registries.conf(5) file. @default "/etc/containers/registries.conf" */
    registriesConf: string;
    /** `insecure_registries`: hosts reached over plain HTTP. @default ["localhost", "127.0.0.1"] (any port) */
    insecureRegistries: string[];
    /** `pull_progress_timeout`: seconds without progress before a pull fails. @default 60 */
    pullProgressTimeoutSeconds: number;
    /** `storage_driver`: "overlay" or "vfs". @default "overlay" */
    storageDriver: "overlay" | "vfs";
  };
}
