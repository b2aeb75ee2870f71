/**
 * OCI runtime-spec generation: pure builders that turn CRI requests into `config.json`
 * objects, and the helpers they share (pod files, sysctl and user resolution, seccomp).
 *
 * @example
 * ```ts
 * import { buildSandboxSpec, resolvConf, hostsFile } from "./spec/mod.ts";
 * const spec = buildSandboxSpec(req.config, { id, rootfs, pauseArgs: ["/pause", "-P"], netnsPath });
 * await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(spec));
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./annotations.ts";
export * from "./annotation_filter.ts";
export { buildSandboxSpec, podNamespaces } from "./sandbox.ts";
export type { PodNamespaces, SandboxSpecOptions } from "./sandbox.ts";
export {
  buildContainerSpec,
  checkRecursiveReadOnlyMount,
  emptyContainerSecurityContext,
  requireAbsolutePath,
  STOP_SIGNAL,
} from "./container.ts";
export type {
  ContainerSpecOptions,
  ImageConfig,
  SandboxNamespacePaths,
  SandboxRef,
} from "./container.ts";
export {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
  defaultMounts,
  defaultSpec,
} from "./default.ts";
export { cgroupsPath } from "./cgroup.ts";
export { buildCapabilities, normalizeCapability } from "./capabilities.ts";
export type { BuildCapabilitiesOptions } from "./capabilities.ts";
export { applyPrivileged } from "./privileged.ts";
export type { PrivilegedOptions } from "./privileged.ts";
export { toLinuxResources } from "./resources.ts";
export { runtimeDefaultSeccomp, SECCOMP_ARCHITECTURES } from "./seccomp.ts";
export { parseSeccompProfile, resolveSeccomp } from "./seccomp_profile.ts";
export type { ProfileLoader } from "./seccomp_profile.ts";
export { sysctlNamespace, validateSysctls } from "./sysctl.ts";
export { resolvConf } from "./resolv.ts";
export type { DnsInput } from "./resolv.ts";
export { hostsFile, isValidHostname } from "./hosts.ts";
export { parseGroup, parsePasswd, resolveContainerUser, resolveUser } from "./user.ts";
export type { AccountFiles, ResolvedUser } from "./user.ts";
