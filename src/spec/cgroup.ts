/**
 * `linux.cgroupsPath` for a sandbox or container.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** Options of {@linkcode cgroupsPath}. */
export interface CgroupsPathOptions {
  /** @default "cgroupfs" */
  manager?: "cgroupfs" | "systemd";
  /** Prefix of the leaf name. @default "ocid" */
  prefix?: string;
}

/**
 * Builds `linux.cgroupsPath`: with cgroupfs `<parent>/<prefix>-<id>` (parent absolute, `/`
 * when empty); with systemd `<parent slice>:<prefix>:<id>` (`system.slice` when empty).
 *
 * @param parent The cgroup parent, resolved by the caller (for cgroupfs a path such as
 * `/kubepods/besteffort/pod123`, for systemd a slice such as `kubepods-pod123.slice`).
 * @param id The sandbox or container ID.
 * @throws {InvalidArgumentError} For a parent holding `..`, NUL or a line break, a relative
 * cgroupfs parent, or a systemd parent that is not a `.slice`.
 * @example
 * ```ts
 * cgroupsPath("/kubepods/pod1", "abc"); // "/kubepods/pod1/ocid-abc"
 * ```
 */
export function cgroupsPath(parent: string, id: string, options: CgroupsPathOptions = {}): string {
  const { manager = "cgroupfs", prefix = "ocid" } = options;
  if (/[\n\0]/.test(parent) || parent.split("/").includes("..")) {
    throw new InvalidArgumentError(`Invalid cgroup_parent ${JSON.stringify(parent)}`);
  }
  if (manager === "systemd") {
    const slice = parent === "" ? "system.slice" : parent;
    if (!/^[A-Za-z0-9_.\-:\\]+\.slice$/.test(slice)) {
      throw new InvalidArgumentError(
        `Invalid cgroup_parent ${JSON.stringify(parent)}: the systemd cgroup manager needs a ` +
          `slice name like "kubepods-pod123.slice"`,
      );
    }
    return `${slice}:${prefix}:${id}`;
  }
  if (parent !== "" && !parent.startsWith("/")) {
    throw new InvalidArgumentError(
      `Invalid cgroup_parent ${
        JSON.stringify(parent)
      }: the cgroupfs manager needs an absolute path`,
    );
  }
  return `${parent.replace(/\/+$/, "")}/${prefix}-${id}`;
}
