/**
 * Thin layers over the operating system: the C library through FFI and the mount seam built
 * on it.
 *
 * @module
 */
export * from "./libc.ts";
export * from "./malloc_trim.ts";
export * from "./mount_error.ts";
export * from "./mounter.ts";
export * from "./libc_mounter.ts";
export * from "./exec_mounter.ts";
export * from "./default_mounter.ts";
export * from "./libc_ns.ts";
export * from "./netns_pin.ts";
export * from "./netns_read.ts";
export * from "./pod_ns_pin.ts";
export * from "./netns_pinner.ts";
export * from "./pod_ns_pinner.ts";
export * from "./exec_netns_pinner.ts";
export * from "./exec_pod_ns_pinner.ts";
export * from "./thread_ns_pinner.ts";
export * from "./default_netns_pinner.ts";
export * from "./cloexec.ts";
