/**
 * Network namespaces that outlive processes, pinned by bind mounts in a dir such as
 * `<runroot>/netns`. Like `ip netns` does for /run/netns, the dir is made a bind mount of
 * itself (private) so the nsfs mounts under it do not propagate elsewhere.
 *
 * create: touch `<dir>/<id>`, then a {@linkcode NetnsPinner} mounts a new network namespace on
 * it: by default libc calls on the main thread (`unshare(CLONE_NEWNET)`, `lo` brought up when
 * the manager's `loopback` is on, bind mount, `setns` back; no process), or
 * `unshare --net=<file> true` (util-linux) with `OCID_NETNS=exec` or without FFI (then `lo`
 * is left to the loopback CNI plugin). remove: a lazy unmount (`MNT_DETACH`) while mounted,
 * then unlink.
 * The dir's bind mount and the unmounts go through a {@linkcode Mounter} (libc syscalls by
 * default, `mount`/`umount` as the fallback).
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { AlreadyExistsError, InvalidArgumentError } from "../errors.ts";
import { unescapeMountinfo } from "../host/mountinfo.ts";
import type { Logger } from "../log.ts";
import { unmountIfMounted } from "../mounts.ts";
import type { Runner } from "../process.ts";
import { denoRunner } from "../process.ts";
import { defaultMounter } from "../sys/default_mounter.ts";
import { defaultNetnsPinner } from "../sys/default_netns_pinner.ts";
import { ExecMounter } from "../sys/exec_mounter.ts";
import type { NetnsPinner } from "../sys/netns_pinner.ts";
import type { Mounter } from "../sys/mounter.ts";
import { PrivateDirMount } from "../sys/private_dir_mount.ts";

/** Creates, removes and lists pinned network namespaces. */
export interface NetnsManager {
  /** Whether `create` brings `lo` up in each namespace (else the loopback plugin must). */
  readonly loopback: boolean;
  /**
   * Creates a network namespace pinned at `<dir>/<id>`.
   *
   * @returns Its path (for `CNI_NETNS` and the OCI spec).
   * @throws {AlreadyExistsError} When a namespace of that name exists.
   */
  create(id: string): Promise<string>;
  /** Unmounts and deletes a pinned namespace; no error when it is already gone. */
  remove(path: string): Promise<void>;
  /** Paths of the pinned namespaces in the dir. */
  list(): Promise<string[]>;
}

/** Options of {@linkcode createNetnsManager}. */
export interface NetnsManagerOptions {
  /** The dir holding the namespace files, e.g. `<runroot>/netns`. */
  dir: string;
  /** Runs `unshare` (and `mount`/`umount`) with the program fallbacks. @default denoRunner */
  runner?: Runner;
  /** Mounts a new netns on a file. @default defaultNetnsPinner(runner) (OCID_NETNS) */
  pinner?: NetnsPinner;
  /**
   * Bring `lo` up in each new namespace in-process (`[cni] use_internal_loopback`), where the
   * pinner can (libc); `loopback` of the manager tells whether it does. @default false
   */
  loopback?: boolean;
  /** Gets the default pinner's records. */
  logger?: Logger;
  /** Mounts the dir and unmounts namespaces. @default defaultMounter(runner) */
  mounter?: Mounter;
  /** Returns the text of /proc/self/mountinfo (tests pass a fake). */
  readMountInfo?: () => Promise<string>;
  /** With the program fallback. @default "unshare" */
  unshareBinary?: string;
  /** With the program fallback. @default "mount" */
  mountBinary?: string;
  /** With the program fallback. @default "umount" */
  umountBinary?: string;
}

/**
 * Creates the default manager.
 *
 * @param options The dir and the runner.
 */
export function createNetnsManager(options: NetnsManagerOptions): NetnsManager {
  return new BindMountNetnsManager(options);
}

/**
 * Returns the mount points listed in a mountinfo text (field 5, octal escapes decoded).
 *
 * @param mountinfo The text of /proc/self/mountinfo.
 */
export function mountPoints(mountinfo: string): string[] {
  const points: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const field = line.split(" ")[4];
    if (field) points.push(unescapeMountinfo(field));
  }
  return points;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

class BindMountNetnsManager implements NetnsManager {
  readonly loopback: boolean;
  #dir: string;
  #runner: Runner;
  #readMountInfo: () => Promise<string>;
  #pinner: NetnsPinner;
  #mounter: Mounter;
  #dirMount: PrivateDirMount;

  constructor(options: NetnsManagerOptions) {
    this.#dir = resolve(options.dir);
    this.#runner = options.runner ?? denoRunner;
    this.#readMountInfo = options.readMountInfo ??
      (() => Deno.readTextFile("/proc/self/mountinfo"));
    this.#pinner = options.pinner ??
      defaultNetnsPinner(this.#runner, {
        unshare: options.unshareBinary ?? "unshare",
        ...(options.logger ? { logger: options.logger } : {}),
      });
    this.loopback = (options.loopback ?? false) && this.#pinner.loopback;
    const mounter = options.mounter ?? defaultMounter(this.#runner);
    this.#mounter = options.mounter === undefined && mounter.kind === "exec"
      ? new ExecMounter(this.#runner, {
        mount: options.mountBinary ?? "mount",
        umount: options.umountBinary ?? "umount",
      })
      : mounter;
    this.#dirMount = new PrivateDirMount(this.#dir, this.#mounter, {
      isMountPoint: (path) => this.#isMountPoint(path),
      stepError: (step, e) =>
        new Error(
          step === "bind"
            ? `Cannot bind-mount netns dir "${this.#dir}": ${errorText(e)}`
            : `Cannot make netns dir "${this.#dir}" private: ${errorText(e)}`,
          { cause: e },
        ),
    });
  }

  async create(id: string): Promise<string> {
    if (!ID_PATTERN.test(id) || id.length > 200) {
      throw new InvalidArgumentError(`Invalid network namespace name "${id}"`);
    }
    await this.#dirMount.ensure();
    const path = join(this.#dir, id);
    try {
      const file = await Deno.open(path, { write: true, createNew: true, mode: 0o444 });
      file.close();
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new AlreadyExistsError(`Network namespace "${path}" already exists`, { cause: e });
      }
      throw e;
    }
    try {
      await this.#pinner.pin(path, this.loopback ? { loopback: true } : {});
    } catch (e) {
      await this.remove(path).catch(() => {});
      throw new Error(`Cannot create network namespace "${path}": ${errorText(e)}`, { cause: e });
    }
    return path;
  }

  async remove(path: string): Promise<void> {
    const abs = resolve(path);
    if (dirname(abs) !== this.#dir) {
      throw new InvalidArgumentError(
        `Refusing to remove "${path}": not a network namespace in "${this.#dir}"`,
      );
    }
    // A file may carry stacked mounts; unmount until none is left.
    await unmountIfMounted(this.#mounter, abs, {
      detach: true,
      all: true,
      isMountPoint: (path) => this.#isMountPoint(path),
    });
    try {
      await Deno.remove(abs);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }

  async list(): Promise<string[]> {
    const paths: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        if (!entry.isDirectory) paths.push(join(this.#dir, entry.name));
      }
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return paths.sort();
  }

  /** Whether `path` is a mount point; symlinks in its dir are resolved as mountinfo does. */
  async #isMountPoint(path: string): Promise<boolean> {
    let real = path;
    try {
      real = join(await Deno.realPath(dirname(path)), basename(path));
    } catch {
      // Dir gone: compare the path as given.
    }
    return mountPoints(await this.#readMountInfo()).includes(real);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
