/**
 * The OCI spec of a pod's infra ("pause") container, from `RunPodSandbox`'s
 * `PodSandboxConfig`. Pure: everything from the host (paths, the netns, the clamped
 * oom_score_adj) comes in through the options.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import type { NamespaceOption, PodSandboxConfig } from "../cri/types.ts";
import * as keys from "./annotations.ts";
import { type RequestAnnotationOptions, requestAnnotations } from "./annotation_filter.ts";
import { buildCapabilities } from "./capabilities.ts";
import { cgroupsPath } from "./cgroup.ts";
import { defaultSpec } from "./default.ts";
import { isValidHostname } from "./hosts.ts";
import { int64 } from "./_int.ts";
import { bindMount, setMount } from "./_mounts.ts";
import { applyPrivileged } from "./privileged.ts";
import { toLinuxResources } from "./resources.ts";
import { type ProfileLoader, resolveSeccomp } from "./seccomp_profile.ts";
import { validateSysctls } from "./sysctl.ts";
import { withPrimaryGroup } from "./user.ts";
import type { Namespace, Spec } from "./types.ts";
import { requireNodeUserNamespace } from "./userns.ts";

/** Options of {@linkcode buildSandboxSpec}. */
export interface SandboxSpecOptions extends RequestAnnotationOptions {
  /** The sandbox ID. */
  id: string;
  /** The shared, read-only infra rootfs directory. */
  rootfs: string;
  /** The pause command, for example `["/pause", "-P"]`. */
  pauseArgs: readonly string[];
  /** A file holding the pod's hostname, bind-mounted read-only at /etc/hostname. */
  hostnamePath?: string;
  /** The pod's resolv.conf, bind-mounted read-only at /etc/resolv.conf. */
  resolvPath?: string;
  /** The pod's hosts file, bind-mounted read-only at /etc/hosts. */
  hostsPath?: string;
  /**
   * The sysctls to set: the pod's own with the node's defaults (`podSysctls`).
   * @default the config's `linux.sysctls`
   */
  sysctls?: Readonly<Record<string, string>>;
  /**
   * The pod's /dev/shm tmpfs, mounted by the caller and bind-mounted read-only at /dev/shm
   * (pause needs no shm; the containers get it read-write). Undefined when the pod uses the
   * host IPC namespace: then the host's /dev/shm is bound instead.
   */
  shmPath?: string;
  /** The pod's network namespace file; undefined for host network. */
  netnsPath?: string;
  /** The resolved cgroup parent; defaults to `linux.cgroup_parent` of the request. */
  cgroupParent?: string;
  /** @default "cgroupfs" */
  cgroupManager?: "cgroupfs" | "systemd";
  /** The pause process's oom_score_adj, already clamped by the caller. */
  oomScoreAdj?: number;
  /** More annotations (ocid's own keys); they win over the request's. */
  annotations?: Readonly<Record<string, string>>;
  /** Reads Localhost seccomp profiles. @default Deno.readTextFileSync */
  loadSeccompProfile?: ProfileLoader;
  /** The node's RuntimeDefault seccomp profile (`seccomp_profile`). @default the built-in */
  runtimeDefaultSeccomp?: { path: string; text: string };
  /**
   * The daemon's capability bounding set (`src/host/capabilities.ts`): what "all
   * capabilities" means for a privileged sandbox.
   */
  hostCapabilities: readonly string[];
}

/** How a pod uses the node's namespaces, read from `NamespaceOption`. */
export interface PodNamespaces {
  hostNetwork: boolean;
  hostPid: boolean;
  hostIpc: boolean;
}

const FIELD_SC = "linux.security_context";

/**
 * Reads the pod's namespace modes.
 *
 * @throws {InvalidArgumentError} For modes a pod cannot have (TARGET pid, CONTAINER or
 * TARGET network and IPC).
 */
export function podNamespaces(options: NamespaceOption | null): PodNamespaces {
  const network = options?.network ?? "POD";
  const pid = options?.pid ?? "POD";
  const ipc = options?.ipc ?? "POD";
  const field = `${FIELD_SC}.namespace_options`;
  if (network !== "POD" && network !== "NODE") {
    throw new InvalidArgumentError(
      `Unsupported ${field}.network ${network} for a pod: use POD or NODE`,
    );
  }
  if (ipc !== "POD" && ipc !== "NODE") {
    throw new InvalidArgumentError(`Unsupported ${field}.ipc ${ipc} for a pod: use POD or NODE`);
  }
  if (pid !== "POD" && pid !== "NODE" && pid !== "CONTAINER") {
    throw new InvalidArgumentError(
      `Unsupported ${field}.pid ${pid} for a pod: TARGET is only valid for containers`,
    );
  }
  requireNodeUserNamespace(options?.userns_options, `${field}.userns_options`);
  return { hostNetwork: network === "NODE", hostPid: pid === "NODE", hostIpc: ipc === "NODE" };
}

/**
 * Builds the infra container's spec.
 *
 * @param config The `RunPodSandbox` request's config.
 * @param options Paths and values resolved by the caller.
 * @returns A new spec, ready to be written as `config.json`.
 * @throws {InvalidArgumentError} For missing metadata, an invalid hostname, bad sysctls,
 * resources or ids, unsupported namespace modes, or an unknown seccomp profile.
 * @example
 * ```ts
 * const spec = buildSandboxSpec(req.config, {
 *   id, rootfs: "/var/lib/ocid/infra/rootfs", pauseArgs: ["/pause", "-P"], netnsPath,
 * });
 * ```
 */
export function buildSandboxSpec(config: PodSandboxConfig, options: SandboxSpecOptions): Spec {
  const meta = config.metadata;
  if (meta === null) throw new InvalidArgumentError("PodSandboxConfig.metadata is required");
  for (const f of ["name", "namespace", "uid"] as const) {
    if (meta[f] === "") {
      throw new InvalidArgumentError(`PodSandboxConfig.metadata.${f} is required`);
    }
  }
  if (options.pauseArgs.length === 0) throw new TypeError("pauseArgs must name the pause program");
  const linux = config.linux;
  const sc = linux?.security_context ?? null;
  const ns = podNamespaces(sc?.namespace_options ?? null);
  if (ns.hostNetwork && options.netnsPath !== undefined) {
    throw new TypeError("netnsPath must be undefined for a pod on the host network");
  }
  const privileged = sc?.privileged ?? false;

  const spec = defaultSpec();
  const process = spec.process!;
  const specLinux = spec.linux!;

  // root and process
  spec.root = { path: options.rootfs, readonly: true };
  process.args = [...options.pauseArgs];
  process.user = {
    uid: sc?.run_as_user ? nonNegative(sc.run_as_user.value, `${FIELD_SC}.run_as_user`) : 0,
    gid: sc?.run_as_group ? nonNegative(sc.run_as_group.value, `${FIELD_SC}.run_as_group`) : 0,
  };
  if (sc?.run_as_group && !sc.run_as_user) {
    throw new InvalidArgumentError(`${FIELD_SC}.run_as_group needs run_as_user`);
  }
  const groups = (sc?.supplemental_groups ?? []).map((g, i) =>
    nonNegative(g, `${FIELD_SC}.supplemental_groups[${i}]`)
  );
  if (groups.length > 0) process.user.additionalGids = withPrimaryGroup(process.user.gid, groups);
  process.capabilities = buildCapabilities(null, {
    privileged,
    field: FIELD_SC,
    available: options.hostCapabilities,
  });
  process.noNewPrivileges = !privileged;
  if (options.oomScoreAdj !== undefined) process.oomScoreAdj = options.oomScoreAdj;

  // hostname: the pod's own UTS namespace unless it shares the host's network
  if (!ns.hostNetwork && config.hostname !== "") {
    if (!isValidHostname(config.hostname)) {
      throw new InvalidArgumentError(
        `Invalid PodSandboxConfig.hostname ${
          JSON.stringify(config.hostname)
        }: expected an RFC 1123 name`,
      );
    }
    spec.hostname = config.hostname;
  }

  // namespaces
  const namespaces: Namespace[] = [{ type: "mount" }];
  if (!ns.hostNetwork) {
    namespaces.push(
      options.netnsPath !== undefined
        ? { type: "network", path: options.netnsPath }
        : { type: "network" },
    );
    namespaces.push({ type: "uts" });
  }
  if (!ns.hostPid) namespaces.push({ type: "pid" });
  if (!ns.hostIpc) namespaces.push({ type: "ipc" });
  specLinux.namespaces = namespaces;

  // mounts
  if (ns.hostNetwork) {
    // sysfs can only be mounted from a network namespace the container owns
    setMount(
      spec,
      bindMount("/sys", "/sys", { readonly: !privileged, extra: ["nosuid", "noexec", "nodev"] }),
    );
  }
  if (options.shmPath !== undefined) {
    setMount(
      spec,
      bindMount(options.shmPath, "/dev/shm", {
        readonly: true,
        extra: ["nosuid", "noexec", "nodev"],
      }),
    );
  } else if (ns.hostIpc) {
    setMount(
      spec,
      bindMount("/dev/shm", "/dev/shm", { readonly: true, extra: ["nosuid", "noexec", "nodev"] }),
    );
  }
  if (options.hostnamePath !== undefined) {
    setMount(spec, bindMount(options.hostnamePath, "/etc/hostname", { readonly: true }));
  }
  if (options.resolvPath !== undefined) {
    setMount(spec, bindMount(options.resolvPath, "/etc/resolv.conf", { readonly: true }));
  }
  if (options.hostsPath !== undefined) {
    setMount(spec, bindMount(options.hostsPath, "/etc/hosts", { readonly: true }));
  }

  // cgroup, resources, sysctls
  specLinux.cgroupsPath = cgroupsPath(
    options.cgroupParent ?? linux?.cgroup_parent ?? "",
    options.id,
    {
      manager: options.cgroupManager ?? "cgroupfs",
    },
  );
  const podResources = linux?.resources ?? null;
  const overhead = linux?.overhead ?? null;
  const resources = podResources !== null
    ? toLinuxResources(podResources, "linux.resources")
    : overhead !== null
    ? toLinuxResources(overhead, "linux.overhead")
    : {};
  specLinux.resources = { ...resources, devices: specLinux.resources?.devices ?? [] };
  // privileged: every capability (above), no masked paths, no device rules, writable
  // sysfs/cgroup; pause needs no host device nodes, so none are added
  if (privileged) applyPrivileged(spec, { hostDevices: [] });
  const sysctls = validateSysctls(options.sysctls ?? linux?.sysctls ?? {}, ns);
  if (Object.keys(sysctls).length > 0) specLinux.sysctl = sysctls;

  // seccomp
  const seccomp = resolveSeccomp(sc, {
    field: FIELD_SC,
    capabilities: process.capabilities.bounding ?? [],
    privileged,
    ...(options.loadSeccompProfile ? { loadProfile: options.loadSeccompProfile } : {}),
    ...(options.runtimeDefaultSeccomp ? { runtimeDefault: options.runtimeDefaultSeccomp } : {}),
  });
  if (seccomp) specLinux.seccomp = seccomp;

  // annotations: the request's (those a runtime or ocid acts on dropped), then ours (ours win)
  const annotations: Record<string, string> = {
    ...requestAnnotations(config.annotations, options),
    [keys.CONTAINER_TYPE]: keys.CONTAINER_TYPE_SANDBOX,
    [keys.SANDBOX_ID]: options.id,
    [keys.SANDBOX_NAME]: meta.name,
    [keys.SANDBOX_NAMESPACE]: meta.namespace,
    [keys.SANDBOX_UID]: meta.uid,
    [keys.OCID_LABELS]: JSON.stringify(config.labels),
    [keys.OCID_ANNOTATIONS]: JSON.stringify(config.annotations),
    [keys.OCID_METADATA]: JSON.stringify(meta),
  };
  if (config.log_directory !== "") annotations[keys.SANDBOX_LOG_DIRECTORY] = config.log_directory;
  spec.annotations = { ...annotations, ...options.annotations };
  return spec;
}

function nonNegative(value: string | number, field: string): number {
  const n = int64(value, field);
  if (n < 0 || n > 0xffffffff) {
    throw new InvalidArgumentError(`${field} must be between 0 and 4294967295, got ${n}`);
  }
  return n;
}
