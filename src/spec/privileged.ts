/**
 * What `privileged` does to a sandbox's or container's spec, in one place. The CRI
 * (`LinuxContainerSecurityContext.privileged` in upstream api.proto) says privileged mode
 * adds all capabilities, masks no sensitive paths, mounts sysfs and procfs read-write, applies
 * no AppArmor, seccomp or SELinux confinement, lets the device cgroup restrict nothing and makes
 * every device of the host's /dev available. Capabilities come from `buildCapabilities` (the
 * host's bounding set) and seccomp from `resolveSeccomp` (none when privileged); this module
 * does the rest.
 *
 * @module
 */
import type { Device, Spec } from "./types.ts";

/** Options of {@linkcode applyPrivileged}. */
export interface PrivilegedOptions {
  /**
   * The host's device nodes to add (see `src/host/devices.ts`). A device the spec already
   * has at the same path (one the request names) wins.
   */
  hostDevices: readonly Device[];
}

/**
 * Lifts the confinement of `spec` for a privileged sandbox or container, in place.
 *
 * @param spec A spec built from the defaults; mounts already set.
 * @param options The host devices to add.
 * @example
 * ```ts
 * if (privileged) applyPrivileged(spec, { hostDevices: listHostDevices() });
 * ```
 */
export function applyPrivileged(spec: Spec, options: PrivilegedOptions): void {
  const linux = (spec.linux ??= {});
  delete linux.maskedPaths;
  delete linux.readonlyPaths;
  for (const m of spec.mounts ?? []) {
    const writable = m.type === "sysfs" || m.type === "cgroup" ||
      (m.type === "bind" && (m.destination === "/sys" || m.destination === "/sys/fs/cgroup"));
    if (writable) m.options = (m.options ?? []).filter((o) => o !== "ro");
    if (writable && m.type === "bind" && !m.options!.includes("rw")) m.options!.push("rw");
  }
  linux.resources = { ...linux.resources, devices: [{ allow: true, access: "rwm" }] };
  const own = linux.devices ?? [];
  const taken = new Set(own.map((d) => d.path));
  const devices = [...options.hostDevices.filter((d) => !taken.has(d.path)), ...own];
  if (devices.length > 0) linux.devices = devices.map((d) => ({ ...d }));
  if (spec.process) {
    delete spec.process.apparmorProfile;
    delete spec.process.selinuxLabel;
  }
  delete linux.mountLabel;
}
