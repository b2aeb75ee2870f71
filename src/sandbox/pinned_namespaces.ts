/**
 * A pod's IPC and UTS namespaces pinned as files, for pods without an infra process: like the
 * network namespace (`src/network/netns.ts`), each lives as long as a bind mount of it exists,
 * at `<dir>/<id>/ipc` and `<dir>/<id>/uts` (`<dir>` is `<runroot>/podns`, made a private bind
 * mount of itself so the nsfs mounts do not propagate elsewhere).
 *
 * pin: one process, `unshare --ipc=<dir>/<id>/ipc --uts=<dir>/<id>/uts [nsenter --net=<netns>]
 * sh -c <script>`, where the script, already inside the new namespaces (and the pod's netns when
 * it has network sysctls), writes the pod's hostname to `/proc/sys/kernel/hostname` and each
 * sysctl to `/proc/sys/<name>`. So the hostname and the sysctls land in the pod's namespaces,
 * never on the node (CRI-O's GHSA-w2j5-3rcx-vx7x set them on the host): a sysctl is written
 * only when the namespace it belongs to is one this call made (or the pod's netns), else the
 * call fails before anything runs. Each name and value is its own argument; names are checked
 * against the sysctl grammar of `src/spec/sysctl.ts`, which has no `..`.
 *
 * unpin: lazy unmount of every mount under `<dir>/<id>`, then the dir is removed.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { CommandError, InvalidArgumentError } from "../errors.ts";
import { isMountPoint, mountPoints } from "../mounts.ts";
import type { Runner } from "../process.ts";
import { sysctlNamespace, validateSysctls } from "../spec/sysctl.ts";
import { defaultMounter } from "../sys/default_mounter.ts";
import type { Mounter } from "../sys/mounter.ts";
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
  /** Runs `unshare`. */
  runner: Runner;
  /** Mounts the dir, unmounts the namespaces. @default defaultMounter(runner) */
  mounter?: Mounter;
  /** @default "unshare" */
  unshare?: string;
  /** @default "nsenter" */
  nsenter?: string;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Sets the hostname (`$1`, when not empty), then each sysctl (`$2 $3`, `$4 $5`, ...). */
const SCRIPT = `h=$1; shift
if [ -n "$h" ]; then printf '%s' "$h" > /proc/sys/kernel/hostname || exit 1; fi
while [ $# -ge 2 ]; do printf '%s' "$2" > "/proc/sys/$1" || exit 1; shift 2; done`;

/** Pins, unpins and lists pods' IPC and UTS namespaces; see the module doc. */
export class PinnedNamespaces {
  readonly dir: string;
  #runner: Runner;
  #mounter: Mounter;
  #unshare: string;
  #nsenter: string;
  #dirMount: PrivateDirMount;

  constructor(options: PinnedNamespacesOptions) {
    this.dir = resolve(options.dir);
    this.#runner = options.runner;
    this.#mounter = options.mounter ?? defaultMounter(options.runner);
    this.#unshare = options.unshare ?? "unshare";
    this.#nsenter = options.nsenter ?? "nsenter";
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
   * @throws {Error} When `unshare` fails (its stderr in the message).
   */
  async pin(req: PinRequest): Promise<PinnedPaths> {
    const args = this.#commandArgs(req);
    const paths = this.paths(req.id, req);
    if (args === undefined) return paths;
    await this.#dirMount.ensure();
    const base = join(this.dir, req.id);
    await Deno.mkdir(base, { mode: 0o755 });
    try {
      for (const path of Object.values(paths)) {
        (await Deno.open(path, { write: true, createNew: true, mode: 0o444 })).close();
      }
      crashPoint("sandbox_run:before_pin");
      await this.#runner.run(this.#unshare, args, { timeoutMs: 30_000 });
    } catch (e) {
      await this.unpin(req.id).catch(() => {});
      const detail = e instanceof CommandError ? (e.stderr || e.message) : String(e);
      throw new Error(`Cannot pin the IPC/UTS namespaces of pod "${req.id}": ${detail.trim()}`, {
        cause: e,
      });
    }
    return paths;
  }

  /** Unmounts and removes what `pin` made for `id`; no error when it is gone. */
  async unpin(id: string): Promise<void> {
    const base = join(this.dir, checkId(id));
    for (const point of await mountPoints(base)) {
      await this.#mounter.unmount(point, { detach: true });
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
    const ids: string[] = [];
    try {
      for await (const e of Deno.readDir(this.dir)) if (e.isDirectory) ids.push(e.name);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
    return ids.sort();
  }

  /** The `unshare` arguments, or undefined when there is nothing to pin. */
  #commandArgs(req: PinRequest): string[] | undefined {
    checkId(req.id);
    const sysctls = validateSysctls(req.sysctls, {
      hostNetwork: req.netnsPath === undefined,
      hostIpc: !req.ipc,
    });
    const names = Object.keys(sysctls);
    const needsNet = names.some((n) => sysctlNamespace(n) === "net");
    if (!req.ipc && !req.uts) {
      if (names.length > 0) {
        throw new InvalidArgumentError(`Pod "${req.id}" owns no namespace to set sysctls in`);
      }
      return undefined;
    }
    const paths = this.paths(req.id, req);
    const hostname = req.uts ? req.hostname : "";
    return [
      ...(paths.ipc ? [`--ipc=${paths.ipc}`] : []),
      ...(paths.uts ? [`--uts=${paths.uts}`] : []),
      ...(needsNet ? [this.#nsenter, `--net=${req.netnsPath}`] : []),
      "sh",
      "-c",
      SCRIPT,
      "ocid-pin",
      hostname,
      ...names.flatMap((n) => [sysctlPath(n), sysctls[n]!]),
    ];
  }
}

/** `/proc/sys/`-relative path of a sysctl name (dot or slash form). */
export function sysctlPath(name: string): string {
  return /^[^./]*\//.test(name) ? name : name.replaceAll(".", "/");
}

function checkId(id: string): string {
  if (!ID_PATTERN.test(id) || id.length > 200) {
    throw new InvalidArgumentError(`Invalid pod sandbox ID "${id}"`);
  }
  return id;
}
