/**
 * A pod's IPC and UTS namespaces pinned as files, for pods without an infra process: like the
 * network namespace (`src/network/netns.ts`), each lives as long as a bind mount of it exists,
 * at `<dir>/<id>/ipc` and `<dir>/<id>/uts` (`<dir>` is `<runroot>/podns`, made a private bind
 * mount of itself so the nsfs mounts do not propagate elsewhere).
 *
 * pin: checks the request, makes the dir and the empty files, then a {@linkcode PodNsPinner}
 * pins new namespaces on them and sets the pod's hostname and sysctls inside: by default on
 * the daemon's main thread through libc (`src/sys/pod_ns_pin.ts`: `unshare`, `sethostname`,
 * writes to `/proc/sys` in the new namespaces and, for `net.*`, in the pod's netns, bind
 * mounts, `setns` back), or with one `unshare ... sh -c` run (`OCID_NETNS=exec`, no FFI). So
 * the hostname and the sysctls land in the pod's namespaces, never on the node (CRI-O's
 * GHSA-w2j5-3rcx-vx7x set them on the host): a sysctl is written only when the namespace it
 * belongs to is one this call made (or the pod's netns), else the call fails before anything
 * runs. Names are checked against the sysctl grammar of `src/spec/sysctl.ts`, which has no
 * `..`.
 *
 * unpin: lazy unmount of every file in `<dir>/<id>` (all mounts stacked on it), then the dir is
 * removed.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import { isMountPoint, unmountIfMounted } from "../mounts.ts";
import type { Runner } from "../process.ts";
import { sysctlNamespace, validateSysctls } from "../spec/sysctl.ts";
import { defaultMounter } from "../sys/default_mounter.ts";
import { defaultPodNsPinner } from "../sys/default_netns_pinner.ts";
import type { Mounter } from "../sys/mounter.ts";
import type { PodNsPinner, PodNsSpec } from "../sys/pod_ns_pinner.ts";
import { PrivateDirMount } from "../sys/private_dir_mount.ts";
import { crashPoint } from "../crash.ts";

/** What to pin for a pod. */
export interface PinRequest {
  /** The sandbox ID (the dir's name). */
  id: string;
  /** Pin a new IPC namespace (the pod does not use the host's). */
  ipc: boolean;
  /** Pin a new UTS namespace (the pod does not use the host's network). */
  uts: boolean;
  /** The hostname to set in the new UTS namespace; "" keeps the one inherited. */
  hostname: string;
  /** The pod's sysctls (already validated against the pod's namespace modes). */
  sysctls: Readonly<Record<string, string>>;
  /** The pod's network namespace, entered to write `net.*` sysctls. */
  netnsPath?: string;
}

/** Paths of the pinned namespaces; a namespace not pinned is absent. */
export interface PinnedPaths {
  ipc?: string;
  uts?: string;
}

/** Options of {@linkcode PinnedNamespaces}. */
export interface PinnedNamespacesOptions {
  /** e.g. `<runroot>/podns`. */
  dir: string;
  /** Runs the programs of the default mounter (and pinner, when it is `exec`). */
  runner: Runner;
  /** Pins the namespaces. @default defaultPodNsPinner(runner) (OCID_NETNS) */
  pinner?: PodNsPinner;
  /** Mounts the dir, unmounts the namespaces. @default defaultMounter(runner) */
  mounter?: Mounter;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Pins, unpins and lists pods' IPC and UTS namespaces; see the module doc. */
export class PinnedNamespaces {
  readonly dir: string;
  #pinner: PodNsPinner;
  #mounter: Mounter;
  #dirMount: PrivateDirMount;

  constructor(options: PinnedNamespacesOptions) {
    this.dir = resolve(options.dir);
    this.#pinner = options.pinner ?? defaultPodNsPinner(options.runner);
    this.#mounter = options.mounter ?? defaultMounter(options.runner);
    this.#dirMount = new PrivateDirMount(this.dir, this.#mounter, { isMountPoint });
  }

  /** The paths a pod's pinned namespaces have (or would have). */
  paths(id: string, which: { ipc: boolean; uts: boolean }): PinnedPaths {
    const base = join(this.dir, checkId(id));
    return {
      ...(which.ipc ? { ipc: join(base, "ipc") } : {}),
      ...(which.uts ? { uts: join(base, "uts") } : {}),
    };
  }

  /**
   * Pins the namespaces, sets the hostname and the sysctls in them; see the module doc.
   * Undoes itself on failure.
   *
   * @throws {InvalidArgumentError} For a sysctl whose namespace this pod does not own.
   * @throws {Error} When the pinner fails (the step and its cause in the message).
   */
  async pin(req: PinRequest): Promise<PinnedPaths> {
    const spec = this.#spec(req);
    const paths = this.paths(req.id, req);
    if (spec === undefined) return paths;
    await this.#dirMount.ensure();
    const base = join(this.dir, req.id);
    await Deno.mkdir(base, { mode: 0o755 });
    try {
      for (const path of Object.values(paths)) {
        (await Deno.open(path, { write: true, createNew: true, mode: 0o444 })).close();
      }
      crashPoint("sandbox_run:before_pin");
      await this.#pinner.pin(spec);
    } catch (e) {
      await this.unpin(req.id).catch(() => {});
      const detail = e instanceof Error ? e.message : String(e);
      throw new Error(`Cannot pin the IPC/UTS namespaces of pod "${req.id}": ${detail.trim()}`, {
        cause: e,
      });
    }
    return paths;
  }

  /** Unmounts and removes what `pin` made for `id`; no error when it is gone. */
  async unpin(id: string): Promise<void> {
    const base = join(this.dir, checkId(id));
    for (const { name } of await entries(base)) {
      await unmountIfMounted(this.#mounter, join(base, name), { detach: true, all: true });
    }
    await Deno.remove(base, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }

  /** Whether every path is a namespace still pinned (a mount point). */
  async arePinned(paths: PinnedPaths): Promise<boolean> {
    for (const path of Object.values(paths)) {
      if (!(await isMountPoint(path))) return false;
    }
    return true;
  }

  /** IDs that have a dir here. */
  async list(): Promise<string[]> {
    return (await entries(this.dir)).filter((e) => e.isDirectory).map((e) => e.name).sort();
  }

  /** What the pinner gets, or undefined when there is nothing to pin. */
  #spec(req: PinRequest): PodNsSpec | undefined {
    checkId(req.id);
    const sysctls = validateSysctls(req.sysctls, {
      hostNetwork: req.netnsPath === undefined,
      hostIpc: !req.ipc,
    });
    const names = Object.keys(sysctls);
    if (!req.ipc && !req.uts) {
      if (names.length > 0) {
        throw new InvalidArgumentError(`Pod "${req.id}" owns no namespace to set sysctls in`);
      }
      return undefined;
    }
    const paths = this.paths(req.id, req);
    return {
      ...(paths.ipc ? { ipc: paths.ipc } : {}),
      // Without a UTS namespace of its own the hostname would be the node's: never set it.
      ...(paths.uts ? { uts: paths.uts, hostname: req.hostname } : { hostname: "" }),
      sysctls: names.map((name) => ({
        name,
        // validateSysctls refuses the names of no namespace.
        ns: sysctlNamespace(name)!,
        path: sysctlPath(name),
        value: sysctls[name]!,
      })),
      ...(req.netnsPath !== undefined ? { netns: req.netnsPath } : {}),
    };
  }
}

/** `/proc/sys`-relative path of a sysctl name (dot or slash form). */
export function sysctlPath(name: string): string {
  return /^[^./]*\//.test(name) ? name : name.replaceAll(".", "/");
}

function checkId(id: string): string {
  if (!ID_PATTERN.test(id) || id.length > 200) {
    throw new InvalidArgumentError(`Invalid pod sandbox ID "${id}"`);
  }
  return id;
}

/** The entries of `dir`; none when it is gone. */
async function entries(dir: string): Promise<Deno.DirEntry[]> {
  try {
    return await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}
