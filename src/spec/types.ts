/**
 * The parts of the OCI runtime-spec `config.json` that ocid writes, typed after
 * opencontainers/runtime-spec `config.md` and `config-linux.md` (version 1.0.2, what
 * runc 1.1 and crun 1.8 read). Field names are the JSON names; optional fields are left out
 * of the object rather than set to `undefined`.
 *
 * @module
 */

/** The OCI runtime-spec version ocid writes. */
export const OCI_VERSION = "1.0.2-dev";

/** A whole `config.json`. */
export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

/** `root`: the container's root filesystem. */
export interface Root {
  /** Path of the rootfs, absolute or relative to the bundle. */
  path: string;
  readonly?: boolean;
}

/** `process`: the container's first process (or an exec'd one, as `process.json`). */
export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

/** `process.user`: numeric ids, resolved before the spec is written. */
export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

/** `process.capabilities`: names like `CAP_CHOWN`. */
export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

/** `process.rlimits[]`. */
export interface Rlimit {
  /** For example `RLIMIT_NOFILE`. */
  type: string;
  soft: number;
  hard: number;
}

/** `mounts[]`. */
export interface Mount {
  destination: string;
  source?: string;
  type?: string;
  options?: string[];
}

/** One hook. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** The hook stages of `hooks`, in the order the runtime runs them. */
export const HOOK_STAGES = [
  "prestart",
  "createRuntime",
  "createContainer",
  "startContainer",
  "poststart",
  "poststop",
] as const;

/** `hooks`. */
export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

/** `linux`. */
export interface Linux {
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  sysctl?: Record<string, string>;
  resources?: LinuxResources;
  /** cgroupfs: a path like `/kubepods/pod123/abc`; systemd: `slice:prefix:name`. */
  cgroupsPath?: string;
  namespaces?: Namespace[];
  devices?: Device[];
  seccomp?: Seccomp;
  /** `private`, `rprivate`, `slave`, `rslave`, `shared`, `rshared`. */
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  /** Intel RDT (resctrl) class of service and schemata; set only from CDI edits. */
  intelRdt?: IntelRdt;
}

/** `linux.intelRdt`. */
export interface IntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

/** `linux.uidMappings[]` / `linux.gidMappings[]`. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** The namespace types of `linux.namespaces[].type`. */
export type NamespaceType =
  | "pid"
  | "network"
  | "mount"
  | "ipc"
  | "uts"
  | "user"
  | "cgroup";

/** `linux.namespaces[]`: a new namespace, or with `path` an existing one to join. */
export interface Namespace {
  type: NamespaceType;
  path?: string;
}

/** `linux.devices[]`: a device node created in the container. */
export interface Device {
  /** `c`, `b`, `u` or `p`. */
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** `linux.resources`. */
export interface LinuxResources {
  devices?: DeviceCgroup[];
  memory?: LinuxMemory;
  cpu?: LinuxCpu;
  pids?: { limit: number };
  hugepageLimits?: HugepageLimit[];
  /** cgroup v2 files, `"memory.high": "1G"`. */
  unified?: Record<string, string>;
}

/** `linux.resources.devices[]`: the device cgroup allow/deny list. */
export interface DeviceCgroup {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  /** Some of `r`, `w`, `m`. */
  access?: string;
}

/** `linux.resources.memory`. */
export interface LinuxMemory {
  limit?: number;
  reservation?: number;
  swap?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}

/** `linux.resources.cpu`. */
export interface LinuxCpu {
  shares?: number;
  quota?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
}

/** `linux.resources.hugepageLimits[]`. */
export interface HugepageLimit {
  /** For example `2MB`, `1GB`. */
  pageSize: string;
  limit: number;
}

/** `linux.seccomp`. */
export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls?: SeccompSyscall[];
}

/** `linux.seccomp.syscalls[]`. */
export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompArg[];
}

/** `linux.seccomp.syscalls[].args[]`. */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  /** `SCMP_CMP_EQ`, `SCMP_CMP_MASKED_EQ`, ... */
  op: string;
}
