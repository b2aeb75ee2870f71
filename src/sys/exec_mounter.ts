/**
 * {@linkcode Mounter} that runs util-linux `mount` and `umount`: the fallback where FFI is not
 * permitted, and `OCID_MOUNTER=exec`.
 *
 * @module
 */
import { CommandError } from "../errors.ts";
import type { Runner } from "../process.ts";
import { mountType } from "./libc_mounter.ts";
import { MountError } from "./mount_error.ts";
import {
  type Mounter,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  type UnmountOptions,
} from "./mounter.ts";

/**
 * The `mount` arguments for a `mount(2)` call.
 *
 * @param target The mount point.
 * @param call The other arguments of the call.
 * @returns The arguments, e.g. `["-t", "tmpfs", "-o", "nosuid,size=1", "shm", "/x"]`.
 */
export function mountArgs(
  target: string,
  call: { source: string; fstype: string; flags: number; data: string },
): string[] {
  const { source, fstype, flags, data } = call;
  const rec = (flags & MS_REC) !== 0;
  if (flags & MS_PRIVATE) return [rec ? "--make-rprivate" : "--make-private", target];
  const opts: string[] = [];
  if (flags & MS_RDONLY) opts.push("ro");
  if (flags & MS_NOSUID) opts.push("nosuid");
  if (flags & MS_NODEV) opts.push("nodev");
  if (flags & MS_NOEXEC) opts.push("noexec");
  if (data) opts.push(data);
  const o = opts.length ? ["-o", opts.join(",")] : [];
  if (flags & MS_BIND) return [rec ? "--rbind" : "--bind", ...o, source, target];
  return [...(fstype ? ["-t", fstype] : []), ...o, source, target];
}

/** Mounts by running `mount`/`umount` through a {@linkcode Runner}. */
export class ExecMounter implements Mounter {
  readonly kind = "exec" as const;
  #runner: Runner;
  #mount: string;
  #umount: string;

  /**
   * @param runner Runs the programs.
   * @param options The program names. @default {mount: "mount", umount: "umount"}
   */
  constructor(runner: Runner, options: { mount?: string; umount?: string } = {}) {
    this.#runner = runner;
    this.#mount = options.mount ?? "mount";
    this.#umount = options.umount ?? "umount";
  }

  async mount(
    source: string,
    target: string,
    fstype: string,
    flags: number,
    data = "",
  ): Promise<void> {
    const args = mountArgs(target, { source, fstype, flags, data });
    await this.#run(this.#mount, args, {
      operation: "mount",
      path: target,
      type: mountType(fstype, flags),
    });
  }

  async unmount(target: string, options: UnmountOptions = {}): Promise<void> {
    const args = options.detach ? ["-l", target] : [target];
    await this.#run(this.#umount, args, { operation: "unmount", path: target, type: "" });
  }

  async #run(
    cmd: string,
    args: string[],
    what: { operation: "mount" | "unmount"; path: string; type: string },
  ): Promise<void> {
    try {
      await this.#runner.run(cmd, args, { timeoutMs: 30_000 });
    } catch (e) {
      if (!(e instanceof CommandError)) throw e;
      throw new MountError({ ...what, errno: "", detail: e.stderr || e.message, cause: e });
    }
  }
}
