/**
 * A {@linkcode Mounter} double: records every call and keeps a mount table (a stack of mount
 * points) that tests can render as /proc/self/mountinfo.
 *
 * @module
 */
import { type Mounter, MS_PRIVATE, type UnmountOptions } from "../../../src/sys/mounter.ts";
import { MountError } from "../../../src/sys/mount_error.ts";

/** One recorded call. */
export type MountCall =
  | { op: "mount"; source: string; target: string; fstype: string; flags: number; data: string }
  | { op: "unmount"; target: string; detach: boolean };

/** Records calls; `fail` may answer a call with an errno name instead. */
export class FakeMounter implements Mounter {
  readonly kind = "libc" as const;
  readonly calls: MountCall[] = [];
  /** Mount points, oldest first (a point may repeat: stacked mounts). */
  readonly mounts: string[] = [];
  #fail: (call: MountCall) => string | undefined;

  constructor(fail: (call: MountCall) => string | undefined = () => undefined) {
    this.#fail = fail;
  }

  mount(source: string, target: string, fstype: string, flags: number, data = ""): Promise<void> {
    const call: MountCall = { op: "mount", source, target, fstype, flags, data };
    this.calls.push(call);
    const errno = this.#fail(call);
    if (errno) {
      return Promise.reject(
        new MountError({ operation: "mount", path: target, type: fstype, errno, detail: "fake" }),
      );
    }
    if (!(flags & MS_PRIVATE)) this.mounts.push(target);
    return Promise.resolve();
  }

  unmount(target: string, options: UnmountOptions = {}): Promise<void> {
    const call: MountCall = { op: "unmount", target, detach: options.detach ?? false };
    this.calls.push(call);
    const i = this.mounts.lastIndexOf(target);
    const errno = this.#fail(call) ?? (i < 0 ? "EINVAL" : undefined);
    if (errno) {
      return Promise.reject(
        new MountError({ operation: "unmount", path: target, type: "", errno, detail: "fake" }),
      );
    }
    this.mounts.splice(i, 1);
    return Promise.resolve();
  }
}
