/**
 * The OCI spec of a workload container, from `CreateContainer`'s `ContainerConfig`, the
 * image config and the sandbox it joins. Pure apart from two injectable readers (device
 * nodes, Localhost seccomp profiles).
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { requireNodeUserNamespace } from "./userns.ts";
import { runtimeSignal } from "../signals.ts";
import {
  type DeviceResolver,
  devicesAt,
  type HostDeviceLister,
  isDeviceAccess,
  listHostDevices,
} from "../host/devices.ts";
import type {
  ContainerConfig,
  Device as CriDevice,
  LinuxContainerSecurityContext,
  Mount as CriMount,
  UserNamespace,
} from "../cri/types.ts";
import * as keys from "./annotations.ts";
import { type RequestAnnotationOptions, requestAnnotations } from "./annotation_filter.ts";
import { buildCapabilities } from "./capabilities.ts";
import { cgroupsPath } from "./cgroup.ts";
import { DEFAULT_PATH, defaultSpec } from "./default.ts";
import { int64 } from "./_int.ts";
import { bindMount, setMount } from "./_mounts.ts";
import { applyPrivileged } from "./privileged.ts";
import { toLinuxResources } from "./resources.ts";
import { type ProfileLoader, resolveSeccomp } from "./seccomp_profile.ts";
import { resolveAppArmor } from "./apparmor.ts";
import type { Device, Mount, Namespace, Rlimit, Spec } from "./types.ts";
import type { ResolvedUser } from "./user.ts";

/** The parts of an OCI image config (`config` of the image JSON) a container uses. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
}

/**
 * Namespaces of the sandbox to join, by path (`/proc/<infraPid>/ns/net`, the netns file,
 * ...). A namespace the pod shares with the host is left undefined.
 */
export interface SandboxNamespacePaths {
  network?: string;
  ipc?: string;
  uts?: string;
  /** The sandbox's pid namespace, joined when the container's pid mode is POD. */
  pid?: string;
  /** The target container's pid namespace, joined when the pid mode is TARGET. */
  targetPid?: string;
}

/** Identity of the sandbox, for annotations. */
export interface SandboxRef {
  id: string;
  name: string;
  namespace: string;
  uid: string;
}

/** Options of {@linkcode buildContainerSpec}. */
export interface ContainerSpecOptions extends RequestAnnotationOptions {
  /** The container ID. */
  id: string;
  /** The sandbox the container joins. */
  sandbox: SandboxRef;
  /** The container's rootfs (the mounted image layers). */
  rootfs: string;
  /** The image config. */
  image: ImageConfig;
  /** The user, resolved by the caller (see `resolveContainerUser` in `user.ts`). */
  user: ResolvedUser;
  /** The sandbox's namespaces. */
  namespaces: SandboxNamespacePaths;
  /** The pod's hostname, exported as `HOSTNAME`. */
  hostname?: string;
  /** The sandbox's hostname, resolv.conf and hosts files, bound into the container. */
  hostnamePath?: string;
  resolvPath?: string;
  hostsPath?: string;
  /** The pod's /dev/shm tmpfs; undefined when the pod uses the host IPC namespace. */
  shmPath?: string;
  /** The pod's cgroup parent. */
  cgroupParent?: string;
  /** @default "cgroupfs" */
  cgroupManager?: "cgroupfs" | "systemd";
  /** oom_score_adj clamped by the caller; overrides `resources.oom_score_adj`. */
  oomScoreAdj?: number;
  /** Whether the sandbox is privileged; a privileged container needs one. @default false */
  sandboxPrivileged?: boolean;
  /**
   * The daemon's capability bounding set (`src/host/capabilities.ts`): what "all
   * capabilities" means for a privileged container and for `ALL`.
   */
  hostCapabilities: readonly string[];
  /** Lists the host's devices for a privileged container. @default listHostDevices */
  listHostDevices?: HostDeviceLister;
  /** More annotations (ocid's own keys); they win over the request's. */
  annotations?: Readonly<Record<string, string>>;
  /** Reads Localhost seccomp profiles. @default Deno.readTextFileSync */
  loadSeccompProfile?: ProfileLoader;
  /** The node's RuntimeDefault seccomp profile (`seccomp_profile`). @default the built-in */
  runtimeDefaultSeccomp?: { path: string; text: string };
  /** Whether the node runs AppArmor (`src/host/apparmor.ts`). @default false */
  appArmorEnabled?: boolean;
  /** The device nodes a CRI `Device` names (a node, or a directory of them). @default devicesAt */
  devicesAt?: DeviceResolver;
  /**
   * The node's `default_capabilities` (normalized): what the container's capabilities start
   * from before the request's adds and drops. @default DEFAULT_CAPABILITIES
   */
  defaultCapabilities?: readonly string[];
  /**
   * The node's `default_env` (`NAME=value`, checked): under the image's and the request's
   * variables of the same name. @default []
   */
  defaultEnv?: readonly string[];
  /**
   * `device_ownership_from_security_context`: the device nodes of `devices` are owned by the
   * security context's `run_as_user` and `run_as_group` (each when set and not 0) instead of
   * the host node's owner, so a non-root container can open what it was given. @default false
   */
  deviceOwnershipFromSecurityContext?: boolean;
  /**
   * The node's `read_only` (CRI-O's key): every container's rootfs is read-only, with tmpfs at
   * `/run`, `/tmp` and `/var/tmp` unless the request mounts something there. @default false
   */
  readOnly?: boolean;
  /**
   * The node's `default_ulimits` (`ulimits.ts`); none: the container inherits the daemon's
   * limits. @default []
   */
  rlimits?: readonly Rlimit[];
}

/** A container security context with nothing set, as a request without one decodes. */
export function emptyContainerSecurityContext(): LinuxContainerSecurityContext {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    run_as_group: null,
    run_as_username: "",
    readonly_rootfs: false,
    supplemental_groups: [],
    supplemental_groups_policy: "Merge",
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    apparmor_profile: "",
    seccomp_profile_path: "",
  };
}

/** Annotation holding the container's stop signal, when the image or request sets one. */
export const STOP_SIGNAL = "io.ocid.stop-signal";

const FIELD_SC = "linux.security_context";
const PROPAGATION = {
  PROPAGATION_PRIVATE: "rprivate",
  PROPAGATION_HOST_TO_CONTAINER: "rslave",
  PROPAGATION_BIDIRECTIONAL: "rshared",
} as const;

/**
 * Builds a container's spec.
 *
 * @param config The `CreateContainer` request's config.
 * @param options The image config, resolved user, sandbox namespaces and paths.
 * @returns A new spec, ready to be written as `config.json`.
 * @throws {InvalidArgumentError} For missing metadata, no command, a relative working dir
 * or mount path, bad env names, devices, resources, capabilities, unsupported namespace
 * modes or mount kinds, an unknown seccomp profile, or a privileged container in an
 * unprivileged sandbox.
 * @example
 * ```ts
 * const spec = buildContainerSpec(req.config, {
 *   id, sandbox, rootfs, image: imageConfig, user,
 *   namespaces: { network: netnsPath, ipc: `/proc/${pid}/ns/ipc`, uts: `/proc/${pid}/ns/uts`,
 *     pid: `/proc/${pid}/ns/pid` },
 * });
 * ```
 */
export function buildContainerSpec(config: ContainerConfig, options: ContainerSpecOptions): Spec {
  const meta = config.metadata;
  if (meta === null || meta.name === "") {
    throw new InvalidArgumentError("ContainerConfig.metadata.name is required");
  }
  const sc = config.linux?.security_context ?? null;
  const privileged = sc?.privileged ?? false;
  if (privileged && !options.sandboxPrivileged) {
    throw new InvalidArgumentError(
      `Container "${meta.name}" asks for ${FIELD_SC}.privileged but its sandbox is not privileged`,
    );
  }
  const spec = defaultSpec();
  const process = spec.process!;
  const linux = spec.linux!;
  const image = options.image;

  // root and process
  const readonlyRootfs = (sc?.readonly_rootfs ?? false) || (options.readOnly ?? false);
  spec.root = { path: options.rootfs, readonly: readonlyRootfs };
  process.args = commandLine(config, image);
  process.env = environment(config, image, options.hostname, options.defaultEnv ?? []);
  process.cwd = workingDir(config, image);
  if (options.rlimits?.length) process.rlimits = options.rlimits.map((r) => ({ ...r }));
  process.terminal = config.tty;
  process.user = { uid: options.user.uid, gid: options.user.gid };
  if (options.user.additionalGids.length > 0) {
    process.user.additionalGids = [...options.user.additionalGids];
  }
  process.capabilities = buildCapabilities(sc?.capabilities ?? null, {
    privileged,
    field: `${FIELD_SC}.capabilities`,
    available: options.hostCapabilities,
    ...(options.defaultCapabilities ? { defaults: options.defaultCapabilities } : {}),
  });
  process.noNewPrivileges = sc?.no_new_privs ?? false;

  // namespaces
  linux.namespaces = namespaces(sc?.namespace_options ?? null, options.namespaces);
  const hostNetwork = !linux.namespaces.some((n) => n.type === "network");
  const hostIpc = !linux.namespaces.some((n) => n.type === "ipc");

  // mounts: defaults, then the sandbox's files, then the request's (which win)
  const rw = !readonlyRootfs;
  if (hostNetwork) {
    setMount(
      spec,
      bindMount("/sys", "/sys", { readonly: !privileged, extra: ["nosuid", "noexec", "nodev"] }),
    );
  }
  const shm = options.shmPath ?? (hostIpc ? "/dev/shm" : undefined);
  if (shm !== undefined) {
    setMount(
      spec,
      bindMount(shm, "/dev/shm", { readonly: false, extra: ["nosuid", "noexec", "nodev"] }),
    );
  }
  for (
    const [path, dest] of [
      [options.hostnamePath, "/etc/hostname"],
      [options.resolvPath, "/etc/resolv.conf"],
      [options.hostsPath, "/etc/hosts"],
    ] as const
  ) {
    if (path !== undefined) setMount(spec, bindMount(path, dest, { readonly: !rw }));
  }
  if (options.readOnly) {
    // As CRI-O's read_only: writable scratch dirs, seeded from the image (runc's tmpcopyup);
    // a request's mount at the same place replaces them below.
    for (const [dest, mode] of READ_ONLY_TMPFS) {
      setMount(spec, {
        destination: dest,
        type: "tmpfs",
        source: "tmpfs",
        options: ["rw", "noexec", "nosuid", "nodev", "tmpcopyup", mode],
      });
    }
  }
  const propagations = new Set<string>();
  for (const [i, m] of sortMounts(config.mounts).entries()) {
    const mount = toMount(m, `mounts[${i}]`);
    propagations.add(mount.options![1]!);
    setMount(spec, mount);
  }
  if (propagations.has("rshared")) linux.rootfsPropagation = "rshared";
  else if (propagations.has("rslave")) linux.rootfsPropagation = "rslave";

  // devices and resources
  const deviceRules = privileged
    ? [{ allow: true, access: "rwm" }]
    : [...(linux.resources?.devices ?? [])];
  const devices: Device[] = [];
  for (const [i, d] of config.devices.entries()) {
    const named = toDevices(d, `devices[${i}]`, options.devicesAt ?? devicesAt);
    for (const { device, access } of named) {
      devices.push(device);
      if (!privileged) {
        deviceRules.push({
          allow: true,
          type: device.type,
          major: device.major!,
          minor: device.minor!,
          access,
        });
      }
    }
  }
  if (options.deviceOwnershipFromSecurityContext) {
    // As containerd and CRI-O: only ids the request names, and not root's.
    const uid = sc?.run_as_user ? int64(sc.run_as_user.value, `${FIELD_SC}.run_as_user`) : 0;
    const gid = sc?.run_as_group ? int64(sc.run_as_group.value, `${FIELD_SC}.run_as_group`) : 0;
    for (const device of devices) {
      if (uid !== 0) device.uid = uid;
      if (gid !== 0) device.gid = gid;
    }
  }
  if (devices.length > 0) linux.devices = devices;
  const res = config.linux?.resources ?? null;
  linux.resources = {
    ...(res ? toLinuxResources(res, "linux.resources") : {}),
    devices: deviceRules,
  };
  const oom = options.oomScoreAdj ??
    (res ? int64(res.oom_score_adj, "linux.resources.oom_score_adj") : undefined);
  if (oom !== undefined && (oom !== 0 || options.oomScoreAdj !== undefined)) {
    if (oom < -1000 || oom > 1000) {
      throw new InvalidArgumentError(
        `linux.resources.oom_score_adj must be between -1000 and 1000, got ${oom}`,
      );
    }
    process.oomScoreAdj = oom;
  }
  linux.cgroupsPath = cgroupsPath(options.cgroupParent ?? "", options.id, {
    manager: options.cgroupManager ?? "cgroupfs",
  });

  // privileged, masked and read-only paths
  if (privileged) {
    applyPrivileged(spec, { hostDevices: (options.listHostDevices ?? listHostDevices)() });
  } else {
    if (sc && sc.masked_paths.length > 0) {
      linux.maskedPaths = absolutePaths(sc.masked_paths, `${FIELD_SC}.masked_paths`);
    }
    if (sc && sc.readonly_paths.length > 0) {
      linux.readonlyPaths = absolutePaths(sc.readonly_paths, `${FIELD_SC}.readonly_paths`);
    }
  }

  // seccomp
  const seccomp = resolveSeccomp(sc, {
    field: FIELD_SC,
    capabilities: process.capabilities.bounding ?? [],
    privileged,
    ...(options.loadSeccompProfile ? { loadProfile: options.loadSeccompProfile } : {}),
    ...(options.runtimeDefaultSeccomp ? { runtimeDefault: options.runtimeDefaultSeccomp } : {}),
  });
  if (seccomp) linux.seccomp = seccomp;
  const appArmor = resolveAppArmor(sc, {
    field: FIELD_SC,
    privileged,
    enabled: options.appArmorEnabled ?? false,
  });
  if (appArmor) process.apparmorProfile = appArmor;

  // annotations: the request's (those a runtime or ocid acts on dropped), then ours (ours win)
  const annotations: Record<string, string> = {
    ...requestAnnotations(config.annotations, options),
    [keys.CONTAINER_TYPE]: keys.CONTAINER_TYPE_CONTAINER,
    [keys.SANDBOX_ID]: options.sandbox.id,
    [keys.SANDBOX_NAME]: options.sandbox.name,
    [keys.SANDBOX_NAMESPACE]: options.sandbox.namespace,
    [keys.SANDBOX_UID]: options.sandbox.uid,
    [keys.CONTAINER_NAME]: meta.name,
    [keys.IMAGE_NAME]: config.image?.user_specified_image || config.image?.image || "",
    [keys.OCID_LABELS]: JSON.stringify(config.labels),
    [keys.OCID_ANNOTATIONS]: JSON.stringify(config.annotations),
    [keys.OCID_METADATA]: JSON.stringify(meta),
  };
  // As runc takes it: the CRI's real-time names (SIGRTMINPLUS3) and an image's (RTMIN+3) are
  // numbers to it.
  const stop = config.stop_signal !== "RUNTIME_DEFAULT" ? config.stop_signal : image.StopSignal;
  if (stop) annotations[STOP_SIGNAL] = runtimeSignal(stop);
  spec.annotations = { ...annotations, ...options.annotations };
  return spec;
}

/**
 * The process's argv with Kubernetes rules: `command` replaces the image's Entrypoint and
 * drops its Cmd; `args` replace the Cmd.
 */
function commandLine(config: ContainerConfig, image: ImageConfig): string[] {
  const entrypoint = config.command.length > 0 ? config.command : image.Entrypoint ?? [];
  const args = config.args.length > 0
    ? config.args
    : config.command.length > 0
    ? []
    : image.Cmd ?? [];
  const argv = [...entrypoint, ...args];
  if (argv.length === 0 || argv[0] === "") {
    throw new InvalidArgumentError(
      `No command for container "${config.metadata?.name}": set command or args, or use an ` +
        `image with an Entrypoint or Cmd`,
    );
  }
  return argv;
}

/**
 * The environment: `HOSTNAME`, the image's `Env`, then the request's `envs` (a request
 * variable replaces the image's in place); `PATH` defaulted, `TERM=xterm` with a tty.
 */
function environment(
  config: ContainerConfig,
  image: ImageConfig,
  hostname: string | undefined,
  defaults: readonly string[],
): string[] {
  const env = new Map<string, string>();
  if (hostname) env.set("HOSTNAME", hostname);
  for (const kv of [...defaults, ...(image.Env ?? [])]) {
    const i = kv.indexOf("=");
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  for (const [i, { key, value }] of config.envs.entries()) {
    if (key === "" || key.includes("=") || key.includes("\0") || value.includes("\0")) {
      throw new InvalidArgumentError(
        `Invalid environment variable ${JSON.stringify(key)} in envs[${i}]: the name must be ` +
          `non-empty without "=" or NUL`,
      );
    }
    env.set(key, value);
  }
  if (!env.has("PATH")) env.set("PATH", DEFAULT_PATH);
  if (config.tty && !env.has("TERM")) env.set("TERM", "xterm");
  return [...env].map(([k, v]) => `${k}=${v}`);
}

function workingDir(config: ContainerConfig, image: ImageConfig): string {
  return requireAbsolutePath(config.working_dir || image.WorkingDir || "/", "working_dir");
}

/**
 * `path` when it is absolute.
 *
 * @param field Where it sits in the request, for the error.
 * @throws {InvalidArgumentError} `Invalid <field> "<path>": it must be an absolute path`
 */
export function requireAbsolutePath(path: string, field: string): string {
  if (!path.startsWith("/")) {
    throw new InvalidArgumentError(
      `Invalid ${field} ${JSON.stringify(path)}: it must be an absolute path`,
    );
  }
  return path;
}

/** Namespaces from the container's `NamespaceOption` and the sandbox's paths. */
function namespaces(
  opts: { network: string; pid: string; ipc: string; userns_options?: UserNamespace | null } | null,
  paths: SandboxNamespacePaths,
): Namespace[] {
  const field = `${FIELD_SC}.namespace_options`;
  requireNodeUserNamespace(opts?.userns_options, `${field}.userns_options`);
  const network = opts?.network ?? "POD";
  const pid = opts?.pid ?? "POD";
  const ipc = opts?.ipc ?? "POD";
  const join = (type: Namespace["type"], path: string | undefined, what: string): Namespace => {
    if (path === undefined) {
      throw new TypeError(`namespaces.${what} is needed to join the pod's ${type} namespace`);
    }
    return { type, path };
  };
  const out: Namespace[] = [{ type: "mount" }];
  if (network === "POD") {
    out.push(join("network", paths.network, "network"));
    out.push(join("uts", paths.uts, "uts"));
  } else if (network !== "NODE") {
    throw new InvalidArgumentError(`Unsupported ${field}.network ${network}: use POD or NODE`);
  }
  if (ipc === "POD") out.push(join("ipc", paths.ipc, "ipc"));
  else if (ipc !== "NODE") {
    throw new InvalidArgumentError(`Unsupported ${field}.ipc ${ipc}: use POD or NODE`);
  }
  if (pid === "POD") out.push(join("pid", paths.pid, "pid"));
  else if (pid === "CONTAINER") out.push({ type: "pid" });
  else if (pid === "TARGET") out.push(join("pid", paths.targetPid, "targetPid"));
  else if (pid !== "NODE") {
    throw new InvalidArgumentError(`Unsupported ${field}.pid ${pid}`);
  }
  return out;
}

/** The tmpfs mounts of the node's `read_only`, with their modes (CRI-O's). */
const READ_ONLY_TMPFS: readonly (readonly [string, string])[] = [
  ["/run", "mode=0755"],
  ["/tmp", "mode=1777"],
  ["/var/tmp", "mode=1777"],
];

/** Sorts mounts so that a parent directory is mounted before what lies under it. */
function sortMounts(mounts: readonly CriMount[]): CriMount[] {
  const depth = (m: CriMount) => m.container_path.split("/").filter((s) => s !== "").length;
  return [...mounts].sort((a, b) => depth(a) - depth(b));
}

function toMount(m: CriMount, field: string): Mount {
  if (!m.container_path.startsWith("/")) {
    throw new InvalidArgumentError(
      `Invalid ${field}.container_path ${JSON.stringify(m.container_path)}: it must be absolute`,
    );
  }
  if (!m.host_path.startsWith("/")) {
    throw new InvalidArgumentError(
      `Invalid ${field}.host_path ${JSON.stringify(m.host_path)}: it must be absolute`,
    );
  }
  if (m.image !== null && m.image.image !== "") {
    // CreateContainer mounts image volumes and hands them on as binds of a host path.
    throw new InvalidArgumentError(`${field}.image must be mounted before the spec is built`);
  }
  if (m.uidMappings.length > 0 || m.gidMappings.length > 0) {
    throw new InvalidArgumentError(`ID-mapped mounts (${field}.uidMappings) are not supported`);
  }
  const propagation: string = PROPAGATION[m.propagation];
  if (propagation === undefined) {
    throw new InvalidArgumentError(`Unknown ${field}.propagation ${m.propagation}`);
  }
  checkRecursiveReadOnlyMount(m, field);
  const options = ["rbind", propagation, m.readonly ? "ro" : "rw"];
  if (m.recursive_read_only) options.push("rro");
  return { destination: m.container_path, type: "bind", source: m.host_path, options };
}

/**
 * What a recursively read-only mount asks of the rest of its request: `readonly`, and private
 * propagation. A mount that receives the host's later mounts (rslave, rshared) cannot be made
 * read-only for them: Kubernetes allows recursiveReadOnly only with propagation None, and
 * CRI-O and containerd refuse it (critest's "should reject a recursive readonly mount with
 * ...").
 *
 * @param m The request's mount.
 * @param field Its place in the request, for the message.
 * @throws {InvalidArgumentError} naming the field
 */
export function checkRecursiveReadOnlyMount(
  m: Pick<CriMount, "recursive_read_only" | "readonly" | "propagation">,
  field: string,
): void {
  if (!m.recursive_read_only) return;
  if (!m.readonly) throw new InvalidArgumentError(`${field}.recursive_read_only needs readonly`);
  if (m.propagation !== "PROPAGATION_PRIVATE") {
    throw new InvalidArgumentError(
      `${field}.recursive_read_only needs propagation PROPAGATION_PRIVATE, got ${m.propagation}`,
    );
  }
}

function toDevices(
  d: CriDevice,
  field: string,
  resolve: DeviceResolver,
): { device: Device; access: string }[] {
  const access = d.permissions === "" ? "rwm" : d.permissions;
  if (!isDeviceAccess(access)) {
    throw new InvalidArgumentError(
      `Invalid ${field}.permissions ${JSON.stringify(d.permissions)}: use letters of "rwm"`,
    );
  }
  const path = d.container_path || d.host_path;
  if (!path.startsWith("/") || !d.host_path.startsWith("/")) {
    throw new InvalidArgumentError(
      `Invalid ${field}: host_path and container_path must be absolute`,
    );
  }
  try {
    return resolve(d.host_path, path).map(({ path, type, major, minor, fileMode, uid, gid }) => ({
      device: { type, path, major, minor, fileMode, uid, gid },
      access,
    }));
  } catch (error) {
    throw new InvalidArgumentError(
      `Cannot use device "${d.host_path}" (${field}.host_path): ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Masked and read-only paths are paths in the container: runc takes a relative one as it comes,
 * so it is refused here.
 *
 * @throws {InvalidArgumentError} naming the first path that is not absolute
 */
function absolutePaths(paths: readonly string[], field: string): string[] {
  return paths.map((p, i) => requireAbsolutePath(p, `${field}[${i}]`));
}
