/**
 * The resolved configuration: every field set. Built by `loadConfig` from the embedded
 * defaults, the TOML file and its drop-ins, then the command-line flags (last wins).
 *
 * @module
 */
import type { LogLevel } from "../log.ts";

/** One `[runtimes.<handler>]` table, resolved (every key set). */
export interface RuntimeHandlerConfig {
  /** `runtime_path`: the runtime binary. Default: runc's or crun's when the handler is named so. */
  runtimePath: string;
  /** `runtime_root`: the runtime's state dir. @default "<runroot>/<handler>" */
  runtimeRoot: string;
  /** `runtime_type`: only "oci" (a runtime with runc's command line, monitored by conmon). */
  runtimeType: "oci";
  /** `monitor_path`: conmon for this handler. @default conmon.path */
  monitorPath: string;
  /** `allowed_annotations`: annotation prefixes pods of this handler may pass to the runtime. @default [] */
  allowedAnnotations: string[];
  /** `privileged_without_host_devices`: privileged containers get no host devices. @default false */
  privilegedWithoutHostDevices: boolean;
}

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
  /** IP address of the Prometheus `/metrics` endpoint (TOML `metrics_address`). @default "127.0.0.1" */
  metricsAddress: string;
  /** TCP port of the `/metrics` endpoint; 0 turns metrics off (TOML `metrics_port`). @default 0 */
  metricsPort: number;
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
  /** `default_runtime`: the handler of pods that name none. @default runtime.name */
  defaultRuntime: string;
  /**
   * `[runtimes.<handler>]`: RuntimeClass handlers besides the `[runtime]` table, which is the
   * handler named `runtime.name` unless a table of that name replaces it. @default {}
   */
  runtimes: Record<string, RuntimeHandlerConfig>;
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
    /**
     * `use_internal_loopback` (containerd's key): bring `lo` up in-process while the pod's
     * netns is made, instead of running the loopback plugin. Where namespaces are made by the
     * `unshare` program (`OCID_NETNS=exec`, no FFI) the plugin runs anyway. @default true
     */
    useInternalLoopback: boolean;
    /**
     * `skip_idle_portmap`: leave the `portmap` plugin of the network out of ADD, CHECK and DEL
     * for pods without host ports, where it would only pass the previous plugin's result
     * through and touch nothing (`skipsIdlePortmap` in `src/network/cni.ts`); false runs it
     * for every pod. @default true
     */
    skipIdlePortmap: boolean;
  };
  /** `cgroup_manager`: "cgroupfs" or "systemd"; default detected at start. */
  cgroupManager: "cgroupfs" | "systemd";
  /** `restrict_oom_score_adj`: clamp requested oom_score_adj to the daemon's own. Default: on when CAP_SYS_RESOURCE is missing. */
  restrictOomScoreAdj: boolean;
  /** `drop_infra_ctr`: pods whose PID namespace is not the pod's run without an infra process. @default true */
  dropInfraCtr: boolean;
  /**
   * `sweep_interval`: seconds between garbage sweeps while serving (`src/gc.ts`; one runs at
   * start and on SIGUSR1 too); 0: none. What a failed rollback could not undo (a CNI DEL, and
   * with it the pod's IP) is retried there. @default 600
   */
  sweepIntervalSeconds: number;
  /**
   * `default_env` (CRI-O's key): `NAME=value` variables of every container; the image's and
   * the request's variables of the same name win. @default []
   */
  defaultEnv: string[];
  /**
   * `default_capabilities` (CRI-O's key): the capabilities a container starts from before its
   * security context's adds and drops; names as `CAP_X` once loaded (`X` and any case are
   * read). Privileged containers and `ALL` still get the daemon's whole bounding set.
   * @default containerd's 14 (`DEFAULT_CAPABILITIES` of `src/spec/default.ts`)
   */
  defaultCapabilities: string[];
  /**
   * `seccomp_profile` (CRI-O's key): a seccomp profile file (OCI or Docker form) that
   * RuntimeDefault means on this node, read at start (a file that does not parse stops the
   * daemon); "" is the built-in profile. @default ""
   */
  seccompProfile: string;
  /**
   * `default_ulimits` (CRI-O's key and syntax): `name=soft[:hard]` limits of every container
   * (`src/spec/ulimits.ts`); empty, containers inherit the daemon's own limits. @default []
   */
  defaultUlimits: string[];
  /**
   * `default_sysctls` (CRI-O's key and syntax): `name=value` sysctls set in every pod's own
   * namespaces (`src/spec/sysctl.ts`); a pod's own sysctl of the same name wins, and a default
   * of a namespace the pod shares with the node is left out for it. @default []
   */
  defaultSysctls: string[];
  /**
   * `device_ownership_from_security_context` (containerd's and CRI-O's key): a container's
   * `devices` are owned by its security context's `run_as_user` / `run_as_group` (when set, not
   * 0) instead of the host node's owner. @default false
   */
  deviceOwnershipFromSecurityContext: boolean;
  /**
   * `read_only` (CRI-O's key): every container's root filesystem is read-only, with tmpfs at
   * `/run`, `/tmp` and `/var/tmp` (seeded from the image) unless the request mounts something
   * there. @default false
   */
  readOnly: boolean;
  /**
   * `absent_mount_sources_to_reject` (CRI-O's key): a mount's missing `host_path` is made as a
   * directory (0755, as containerd and CRI-O do, so a kubelet `hostPath` volume of type "" works),
   * except these paths: a container that mounts one of them while it is missing is refused.
   * @default []
   */
  absentMountSourcesToReject: string[];
  /**
   * `hooks_dir` (CRI-O's key): directories of OCI hook files (containers-oci-hooks(5), the 1.0.0
   * schema), lowest priority first; a container gets the hooks whose conditions it matches
   * (`src/spec/oci_hooks.ts`). Missing directories hold none.
   * @default ["/usr/share/containers/oci/hooks.d"] (CRI-O's)
   */
  hooksDir: string[];
  /**
   * `enable_cdi` (containerd's key): apply the Container Device Interface devices a container
   * asks for; when false, a container that asks for one is refused. @default true
   */
  enableCdi: boolean;
  /**
   * `cdi_spec_dirs`: where CDI spec files are, lowest priority first.
   * @default ["/etc/cdi", "/var/run/cdi"]
   */
  cdiSpecDirs: string[];
  /** `[image]` */
  image: {
    /** `registries_conf`: containers-registries.conf(5) file. @default "/etc/containers/registries.conf" */
    registriesConf: string;
    /** `insecure_registries`: hosts reached over plain HTTP. @default ["localhost", "127.0.0.1"] (any port) */
    insecureRegistries: string[];
    /**
     * `pinned_images` (CRI-O's key): images reported `pinned` (the kubelet's garbage collection
     * leaves them), by name (`src/image/pinned.ts`); the pause image is pinned anyway. @default []
     */
    pinnedImages: string[];
    /**
     * `global_auth_file` (CRI-O's key): a containers-auth.json(5) / Docker `config.json` file
     * whose credentials the pulls without credentials of their own use
     * (`src/image/auth_file.ts`); "": none. @default ""
     */
    globalAuthFile: string;
    /**
     * `signature_policy` (CRI-O's key): a containers-policy.json(5) file every pull is checked
     * against (`src/image/signature_policy.ts`); "": none, every image is accepted. @default ""
     */
    signaturePolicy: string;
    /**
     * `signature_policy_dir` (CRI-O's key): `<dir>/<namespace>.json`, when it exists, is the
     * policy of the pulls for that namespace's pods instead of `signature_policy`. @default ""
     */
    signaturePolicyDir: string;
    /**
     * `image_volumes` (CRI-O's key): what a container gets for each volume its image declares
     * (`src/image/declared_volumes.ts`): "mkdir" the directory in its rootfs, "bind" a new
     * directory of its own bound there, "ignore" nothing. @default "mkdir"
     */
    imageVolumes: "mkdir" | "bind" | "ignore";
    /**
     * `max_concurrent_downloads` (containerd's key): the most layer blobs one pull downloads at
     * once, ahead of the unpacking. @default 3 (containerd's)
     */
    maxConcurrentDownloads: number;
    /** `pull_progress_timeout`: seconds without progress before a pull fails. @default 60 */
    pullProgressTimeoutSeconds: number;
    /** `storage_driver`: "overlay" or "vfs". @default "overlay" */
    storageDriver: "overlay" | "vfs";
  };
}
