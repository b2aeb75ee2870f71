/**
 * {@linkcode Mounter} on `mount(2)`/`umount2(2)` through FFI: no process per mount.
 *
 * @module
 */
import { ERRNO_NAMES, type Libc } from "./libc.ts";
import { MountError } from "./mount_error.ts";
import {
  MAX_MOUNT_DATA_BYTES,
  MNT_DETACH,
  type Mounter,
  MS_BIND,
  MS_PRIVATE,
  type UnmountOptions,
} from "./mounter.ts";

/** What a mount call mounts, for messages: `bind`, `private`, or the filesystem type. */
export function mountType(fstype: string, flags: number): string {
  if (flags & MS_BIND) return "bind";
  if (flags & MS_PRIVATE) return "private";
  return fstype;
}

/** Mounts with syscalls through the bindings in `src/sys/libc.ts`. */
export class LibcMounter implements Mounter {
  readonly kind = "libc" as const;
  #libc: Libc;

  /** @param libc The bindings (tests pass a fake that returns chosen errno values). */
  constructor(libc: Libc) {
    this.#libc = libc;
  }

  mount(source: string, target: string, fstype: string, flags: number, data = ""): Promise<void> {
    const type = mountType(fstype, flags);
    const size = new TextEncoder().encode(data).length;
    if (size > MAX_MOUNT_DATA_BYTES) {
      return Promise.reject(
        new MountError({
          operation: "mount",
          path: target,
          type,
          errno: "",
          detail:
            `the options are ${size} bytes; the kernel takes at most ${MAX_MOUNT_DATA_BYTES} (one page)`,
        }),
      );
    }
    try {
      const errno = this.#libc.mount(source, target, fstype, flags, data);
      if (errno !== 0) return Promise.reject(this.#error("mount", target, type, errno));
    } catch (e) {
      return Promise.reject(e);
    }
    return Promise.resolve();
  }

  async unmount(target: string, options: UnmountOptions = {}): Promise<void> {
    const errno = await this.#libc.umount2(target, options.detach ? MNT_DETACH : 0);
    if (errno !== 0) throw this.#error("unmount", target, "", errno);
  }

  #error(operation: "mount" | "unmount", path: string, type: string, errno: number): MountError {
    return new MountError({
      operation,
      path,
      type,
      errno: ERRNO_NAMES[errno] ?? `errno ${errno}`,
      detail: this.#libc.strerror(errno),
    });
  }
}
