/**
 * The error of a failed mount or unmount, naming the path, the mount type and the cause.
 *
 * @module
 */

/** What was being done when a mount call failed. */
export type MountOperation = "mount" | "unmount";

/** Options of {@linkcode MountError}. */
export interface MountErrorOptions extends ErrorOptions {
  /** `mount` or `unmount`. */
  operation: MountOperation;
  /** The mount point. */
  path: string;
  /** What is mounted: `tmpfs`, `overlay`, `bind`, `private` (propagation), or `""` unknown. */
  type: string;
  /** The errno name (`EBUSY`), or `""` when the failure has none (a program's exit code). */
  errno: string;
  /** The C library's text for the errno, or the program's stderr. */
  detail: string;
}

/** Plain-words reasons for the errno values that mounts commonly fail with. */
function reason(op: MountOperation, errno: string, path: string): string | undefined {
  switch (errno) {
    case "EBUSY":
      return op === "mount"
        ? `"${path}" is busy (already mounted there, or the source is in use)`
        : `"${path}" is busy (files are open on it; a lazy unmount detaches it anyway)`;
    case "ENOENT":
      return op === "mount"
        ? `"${path}", its source or a directory in its options does not exist`
        : `"${path}" does not exist`;
    case "EINVAL":
      return op === "mount"
        ? "the kernel refused the flags or options (bad option, or a propagation change on a path that is not a mount point)"
        : `"${path}" is not a mount point`;
    case "EPERM":
      return "permission denied: mounting needs root with CAP_SYS_ADMIN";
    case "ENODEV":
      return "the kernel does not support this filesystem type";
    case "ENOTDIR":
      return `"${path}" or a component of it is not a directory`;
  }
  return undefined;
}

/** A mount or unmount failed. `errno` says why; the message names the path and the type. */
export class MountError extends Error {
  /** `mount` or `unmount`. */
  readonly operation: MountOperation;
  /** The mount point. */
  readonly path: string;
  /** What is mounted (`tmpfs`, `overlay`, `bind`, `private`). */
  readonly type: string;
  /** The errno name (`EBUSY`), or `""`. */
  readonly errno: string;

  constructor(options: MountErrorOptions) {
    const { operation, path, type, errno, detail } = options;
    const what = operation === "mount"
      ? `Cannot mount ${type || "filesystem"} on "${path}"`
      : `Cannot unmount ${type ? `${type} ` : ""}"${path}"`;
    const why = reason(operation, errno, path);
    const cause = errno ? `${errno}: ${detail}` : detail.trim();
    super(why ? `${what}: ${why} (${cause})` : `${what}: ${cause}`, options);
    this.name = "MountError";
    this.operation = operation;
    this.path = path;
    this.type = type;
    this.errno = errno;
  }
}
