/**
 * The mount seam: {@linkcode Mounter} mounts and unmounts, either through libc (one syscall,
 * no process: `libc_mounter.ts`) or by running `mount`/`umount` (`exec_mounter.ts`); the
 * flags both understand. `default_mounter.ts` picks one per process.
 *
 * @module
 */
/** `mount(2)` flags (linux/mount.h). */
export const MS_RDONLY = 0x1;
/** Ignore set-user-ID and set-group-ID bits. */
export const MS_NOSUID = 0x2;
/** No device files. */
export const MS_NODEV = 0x4;
/** No execution of programs. */
export const MS_NOEXEC = 0x8;
/** A bind mount of `source` on `target`. */
export const MS_BIND = 0x1000;
/** With MS_BIND or a propagation flag: the whole subtree. */
export const MS_REC = 0x4000;
/** Propagation type: private (no mount events in or out). */
export const MS_PRIVATE = 0x40000;
/** `umount2(2)` flag: detach now, clean up when no longer busy (`umount --lazy`). */
export const MNT_DETACH = 0x2;

/**
 * Mount data longer than this fails: the kernel copies at most one page (4096 bytes on x86-64)
 * of options including the final NUL. util-linux 2.38 `mount` has the same limit.
 */
export const MAX_MOUNT_DATA_BYTES = 4095;

/** Options of {@linkcode Mounter.unmount}. */
export interface UnmountOptions {
  /** Lazy unmount (`MNT_DETACH`, `umount -l`). @default false */
  detach?: boolean;
}

/** Mounts and unmounts. Tests swap in a fake that records calls. */
export interface Mounter {
  /** `libc` (syscalls through FFI) or `exec` (the `mount`/`umount` programs). */
  readonly kind: "libc" | "exec";
  /**
   * Mounts like `mount(2)`.
   *
   * @param source What to mount (`tmpfs`, `overlay`, a directory for MS_BIND; `""` for a
   *   propagation change).
   * @param target The mount point.
   * @param fstype The filesystem type (`""` for MS_BIND or a propagation change).
   * @param flags `MS_*` flags.
   * @param data Filesystem options, e.g. `mode=1777,size=65536` or `lowerdir=...`.
   * @throws {MountError} Naming the path, the type and the cause.
   */
  mount(
    source: string,
    target: string,
    fstype: string,
    flags: number,
    data?: string,
  ): Promise<void>;
  /**
   * Unmounts `target` (the topmost mount on it).
   *
   * @throws {MountError} Naming the path and the cause (EINVAL: not a mount point).
   */
  unmount(target: string, options?: UnmountOptions): Promise<void>;
}
