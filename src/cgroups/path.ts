/**
 * From an OCI `linux.cgroupsPath` (or a pod's cgroup parent) to the cgroup's directory below
 * a hierarchy's mount point, for both cgroup managers.
 *
 * @module
 */

/**
 * Expands a systemd slice name into its path: `kubepods-burstable-pod1.slice` ->
 * `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice` (systemd.slice(5):
 * each dash opens a child slice). `-.slice` is the root.
 *
 * @throws {TypeError} For a name that is not a slice.
 */
export function expandSlice(slice: string): string {
  if (!slice.endsWith(".slice") || slice.includes("/")) {
    throw new TypeError(`Invalid slice name ${JSON.stringify(slice)}`);
  }
  if (slice === "-.slice") return "/";
  const name = slice.slice(0, -".slice".length);
  let path = "";
  let prefix = "";
  for (const part of name.split("-")) {
    if (part === "") throw new TypeError(`Invalid slice name ${JSON.stringify(slice)}`);
    prefix = prefix ? `${prefix}-${part}` : part;
    path += `/${prefix}.slice`;
  }
  return path;
}

/**
 * The cgroup directory (absolute within a hierarchy, starting with `/`) that a
 * `linux.cgroupsPath` names. With cgroupfs the path is the directory; with systemd
 * (`<slice>:<prefix>:<name>`) it is the slice's path plus `<prefix>-<name>.scope`, as runc
 * creates it.
 *
 * @example
 * ```ts
 * cgroupDir("/kubepods/pod1/ocid-abc"); // "/kubepods/pod1/ocid-abc"
 * cgroupDir("kubepods-pod1.slice:ocid:abc"); // "/kubepods.slice/kubepods-pod1.slice/ocid-abc.scope"
 * ```
 */
export function cgroupDir(cgroupsPath: string): string {
  const parts = cgroupsPath.split(":");
  if (parts.length === 3 && !cgroupsPath.startsWith("/")) {
    const [slice, prefix, name] = parts as [string, string, string];
    const base = expandSlice(slice || "system.slice");
    return `${base === "/" ? "" : base}/${prefix}-${name}.scope`;
  }
  return "/" + cgroupsPath.split("/").filter((p) => p).join("/");
}

/**
 * The cgroup directory of a pod's cgroup parent: a cgroupfs path as it is, a systemd slice
 * expanded.
 *
 * @example
 * ```ts
 * parentDir("kubepods-pod1.slice", "systemd"); // "/kubepods.slice/kubepods-pod1.slice"
 * ```
 */
export function parentDir(parent: string, manager: "cgroupfs" | "systemd"): string {
  if (manager === "systemd" || parent.endsWith(".slice")) return expandSlice(parent);
  return "/" + parent.split("/").filter((p) => p).join("/");
}
