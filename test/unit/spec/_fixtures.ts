/**
 * Decoded CRI messages with every field at its proto3 default, as proto-loader gives them,
 * for tests to change one field at a time.
 *
 * @module
 */
import { noLinuxContainerResources } from "../../../src/spec/resources.ts";
import { emptyContainerSecurityContext } from "../../../src/spec/container.ts";
import type {
  ContainerConfig,
  LinuxContainerSecurityContext,
  LinuxSandboxSecurityContext,
  NamespaceOption,
  PodSandboxConfig,
} from "../../../src/cri/types.ts";

/** A pod config named `web` in `default`, with nothing else set. */
export function podConfig(): PodSandboxConfig {
  return {
    metadata: { name: "web", uid: "uid-1", namespace: "default", attempt: 0 },
    hostname: "",
    log_directory: "",
    dns_config: null,
    port_mappings: [],
    labels: {},
    annotations: {},
    linux: null,
    windows: null,
  };
}

/** `LinuxContainerResources` with nothing set. */
export const resources = noLinuxContainerResources;

/** `NamespaceOption` with every mode POD. */
export function namespaceOption(): NamespaceOption {
  return { network: "POD", pid: "POD", ipc: "POD", target_id: "", userns_options: null };
}

/** A sandbox security context with nothing set. */
export function sandboxSecurity(): LinuxSandboxSecurityContext {
  return {
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    run_as_group: null,
    readonly_rootfs: false,
    supplemental_groups: [],
    supplemental_groups_policy: "Merge",
    privileged: false,
    seccomp: null,
    apparmor: null,
    seccomp_profile_path: "",
  };
}

/** A pod config whose `linux` part is set from `parts`. */
export function podWithLinux(
  parts: Partial<NonNullable<PodSandboxConfig["linux"]>>,
): PodSandboxConfig {
  return {
    ...podConfig(),
    linux: {
      cgroup_parent: "",
      security_context: null,
      sysctls: {},
      overhead: null,
      resources: null,
      ...parts,
    },
  };
}

/** A pod config whose security context is set from `parts`. */
export function podWithSecurity(parts: Partial<LinuxSandboxSecurityContext>): PodSandboxConfig {
  return podWithLinux({ security_context: { ...sandboxSecurity(), ...parts } });
}

/** A container security context with nothing set. */
export function containerSecurity(): LinuxContainerSecurityContext {
  return emptyContainerSecurityContext();
}

/** A container config named `app` with nothing else set. */
export function containerConfig(): ContainerConfig {
  return {
    metadata: { name: "app", attempt: 0 },
    image: {
      image: "busybox:latest",
      annotations: {},
      user_specified_image: "",
      runtime_handler: "",
      image_ref: "",
    },
    command: [],
    args: [],
    working_dir: "",
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: "",
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    stop_signal: "RUNTIME_DEFAULT",
  };
}
