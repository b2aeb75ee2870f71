/**
 * The `infra` {@linkcode PodNamespaceHolder}: an infra (pause) container, created through conmon
 * and the runtime, owns the pod's IPC, UTS and PID namespaces (the network namespace is pinned
 * as a file either way). Containers join `/proc/<infra pid>/ns/*`. Stopping it is SIGTERM, then
 * SIGKILL; its exit reaches the sandbox record through the exit hub, which also starts the
 * runtime's delete of the infra container (`src/exit_cleanup.ts`); removal awaits that.
 *
 * @module
 */
import { join } from "node:path";
import { FailedPreconditionError } from "../errors.ts";
import { clampOomScoreAdj } from "../oci/oom.ts";
import type { Deps } from "../server/deps.ts";
import { SANDBOX_LOG_DIRECTORY } from "../spec/annotations.ts";
import { allowedAnnotationsFor } from "../config/runtime_handlers.ts";
import { enforceableResources } from "../server/cgroup_fit.ts";
import { buildSandboxSpec } from "../spec/mod.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import type {
  HeldNamespacePaths,
  HeldNamespaces,
  HolderCreateRequest,
  PodNamespaceHolder,
} from "./holder.ts";
import { pauseImageRoot } from "./pause_image.ts";

/** What the infra holder uses. */
export type InfraHolderDeps = Pick<
  Deps,
  | "config"
  | "log"
  | "runtime"
  | "exits"
  | "cleanups"
  | "images"
  | "infraRootfs"
  | "ownOomScoreAdj"
  | "hostCapabilities"
  | "runtimeDefaultSeccomp"
  | "cgroupSupport"
>;

/** The oom_score_adj CRI-O and containerd give the infra process. */
const INFRA_OOM_SCORE_ADJ = -998;

/** How long the infra process gets to end after SIGTERM. */
const INFRA_STOP_TIMEOUT_MS = 5_000;

/** Holds a pod's namespaces with an infra process; see the module doc. */
export class InfraHolder implements PodNamespaceHolder {
  readonly kind = "infra" as const;
  #deps: InfraHolderDeps;

  constructor(deps: InfraHolderDeps) {
    this.#deps = deps;
  }

  async create(req: HolderCreateRequest): Promise<HeldNamespaces> {
    const deps = this.#deps;
    const { id } = req;
    let infra: { rootfs: string; args: string[]; imageId?: string } = {
      rootfs: deps.infraRootfs,
      args: ["/pause", ...deps.config.pause.args],
    };
    if (deps.config.pause.image) {
      const root = await pauseImageRoot(deps.images, { id, image: deps.config.pause.image });
      req.stack.defer(() => root.release());
      infra = root;
    }
    const spec = buildSandboxSpec(req.config, {
      id,
      rootfs: infra.rootfs,
      pauseArgs: infra.args,
      hostnamePath: req.hostnamePath,
      resolvPath: req.resolvPath,
      hostsPath: req.hostsPath,
      sysctls: req.sysctls,
      ...(req.shmPath ? { shmPath: req.shmPath } : {}),
      ...(req.netnsPath ? { netnsPath: req.netnsPath } : {}),
      cgroupParent: req.cgroupParent,
      cgroupManager: deps.config.cgroupManager,
      oomScoreAdj: clampOomScoreAdj(
        INFRA_OOM_SCORE_ADJ,
        deps.ownOomScoreAdj,
        deps.config.restrictOomScoreAdj,
      ),
      annotations: { [SANDBOX_LOG_DIRECTORY]: req.logDirectory },
      hostCapabilities: deps.hostCapabilities.bounding,
      ...(deps.runtimeDefaultSeccomp ? { runtimeDefaultSeccomp: deps.runtimeDefaultSeccomp } : {}),
      allowedAnnotations: allowedAnnotationsFor(deps.config, req.runtimeHandler),
      onDroppedAnnotations: (keys) =>
        deps.log.warn("Dropped pod annotations a runtime or ocid acts on", { id, keys }),
    });
    if (spec.linux?.resources) {
      spec.linux.resources = enforceableResources(deps, spec.linux.resources, { sandbox: id });
    }
    // Read at once by the runtime: no fsync (see container_create.ts).
    await writeFileAtomic(join(req.bundle, "config.json"), JSON.stringify(spec), {
      sync: "none",
    });
    const created = await deps.runtime.create({
      id,
      bundle: req.bundle,
      persistDir: req.bundle,
      logPath: join(req.bundle, "infra.log"),
      name: req.name,
      runtimeHandler: req.runtimeHandler,
    });
    return { ...created, ...(infra.imageId ? { imageId: infra.imageId } : {}) };
  }

  async undoCreate(id: string): Promise<void> {
    await this.#deps.runtime.kill(id, "KILL").catch(() => {});
    await this.#deps.runtime.delete(id, { force: true });
  }

  async start(id: string, held: HeldNamespaces & { bundle: string }): Promise<void> {
    await this.#deps.runtime.start(id, { pid: held.pid, bundle: held.bundle });
  }

  namespacePaths(sandbox: SandboxRecord): HeldNamespacePaths {
    const infra = sandbox.status.pid;
    if (!infra) {
      throw new FailedPreconditionError(
        `Pod sandbox "${sandbox.id}" has no running infra process to join`,
      );
    }
    return {
      ipc: `/proc/${infra}/ns/ipc`,
      uts: `/proc/${infra}/ns/uts`,
      pid: `/proc/${infra}/ns/pid`,
    };
  }

  alive(_sandbox: SandboxRecord, runtimeStatus: string | undefined): Promise<boolean> {
    return Promise.resolve(
      runtimeStatus === "running" || runtimeStatus === "created" || runtimeStatus === "paused",
    );
  }

  async release(sandbox: SandboxRecord): Promise<void> {
    const deps = this.#deps;
    const id = sandbox.id;
    if (deps.exits.exited(id)) return;
    await deps.runtime.kill(id, "TERM").catch(() => {});
    if (await deps.exits.wait(id, INFRA_STOP_TIMEOUT_MS)) return;
    deps.log.warn("Infra process ignored SIGTERM, sending SIGKILL", { id });
    await deps.runtime.kill(id, "KILL").catch(() => {});
    if (await deps.exits.wait(id, INFRA_STOP_TIMEOUT_MS)) return;
    const state = await deps.runtime.state(id).catch(() => undefined);
    if (state && state.status !== "stopped") {
      throw new Error(
        `Cannot stop the infra process of sandbox "${id}": it is still ${state.status}`,
      );
    }
  }

  async remove(sandbox: SandboxRecord): Promise<void> {
    await this.#deps.cleanups.finish(sandbox.id);
  }
}
