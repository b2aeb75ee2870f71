/**
 * A directory made a private bind mount of itself, as `ip netns` does for /run/netns, so the
 * nsfs bind mounts pinned under it do not propagate to other mount namespaces. Used for the
 * netns dir (`src/network/netns.ts`) and the pinned IPC/UTS dir
 * (`src/sandbox/pinned_namespaces.ts`).
 *
 * @module
 */
import { type Mounter, MS_BIND, MS_PRIVATE } from "./mounter.ts";

/** Options of {@linkcode PrivateDirMount}. */
export interface PrivateDirMountOptions {
  /** Whether a path is a mount point (the dir is left as it is when it already is one). */
  isMountPoint: (path: string) => Promise<boolean>;
  /**
   * The error to throw when a step fails (the bind mount, or making it private).
   * @default the step's own error
   */
  stepError?: (step: "bind" | "private", cause: unknown) => unknown;
}

/** Makes its dir a private bind mount of itself once, on first need; retries after a failure. */
export class PrivateDirMount {
  readonly dir: string;
  #mounter: Mounter;
  #isMountPoint: (path: string) => Promise<boolean>;
  #stepError: (step: "bind" | "private", cause: unknown) => unknown;
  #ready: Promise<void> | undefined;

  constructor(dir: string, mounter: Mounter, options: PrivateDirMountOptions) {
    this.dir = dir;
    this.#mounter = mounter;
    this.#isMountPoint = options.isMountPoint;
    this.#stepError = options.stepError ?? ((_, cause) => cause);
  }

  /**
   * Creates the dir (mode 0755) and mounts it unless it is a mount point already; concurrent
   * callers share one attempt, and a failed attempt is forgotten so the next call tries again.
   *
   * @throws {unknown} What `stepError` makes of a failed mount (the private step's failure
   * undoes the bind mount first).
   */
  ensure(): Promise<void> {
    this.#ready ??= this.#make().catch((e) => {
      this.#ready = undefined;
      throw e;
    });
    return this.#ready;
  }

  async #make(): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true, mode: 0o755 });
    if (await this.#isMountPoint(this.dir)) return;
    try {
      await this.#mounter.mount(this.dir, this.dir, "", MS_BIND);
    } catch (e) {
      throw this.#stepError("bind", e);
    }
    try {
      await this.#mounter.mount("", this.dir, "", MS_PRIVATE);
    } catch (e) {
      await this.#mounter.unmount(this.dir).catch(() => {});
      throw this.#stepError("private", e);
    }
  }
}
