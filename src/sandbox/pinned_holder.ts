/**
 * The `pinned` {@linkcode PodNamespaceHolder}: no infra process. RunPodSandbox pins the pod's
 * IPC and UTS namespaces as files ({@linkcode PinnedNamespaces}), sets the hostname and the
 * sysctls inside them; containers join them by path. Releasing unpins them; nothing is left to
 * remove after that. The pod stays READY until StopPodSandbox (no process can exit).
 *
 * @module
 */
import { FailedPreconditionError } from "../errors.ts";
import { podNamespaces } from "../spec/sandbox.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import type {
  HeldNamespacePaths,
  HeldNamespaces,
  HolderCreateRequest,
  PodNamespaceHolder,
} from "./holder.ts";
import type { PinnedNamespaces } from "./pinned_namespaces.ts";

/** Holds a pod's namespaces as pinned files; see the module doc. */
export class PinnedHolder implements PodNamespaceHolder {
  readonly kind = "pinned" as const;
  #pins: Pick<PinnedNamespaces, "pin" | "unpin" | "arePinned">;

  constructor(pins: Pick<PinnedNamespaces, "pin" | "unpin" | "arePinned">) {
    this.#pins = pins;
  }

  async create(req: HolderCreateRequest): Promise<HeldNamespaces> {
    const ns = podNamespaces(req.config.linux?.security_context?.namespace_options ?? null);
    const paths = await this.#pins.pin({
      id: req.id,
      ipc: !ns.hostIpc,
      uts: !ns.hostNetwork,
      // As with an infra container: the UTS namespace gets the pod's hostname when it names one.
      hostname: req.config.hostname,
      sysctls: req.sysctls,
      ...(req.netnsPath ? { netnsPath: req.netnsPath } : {}),
    });
    return {
      pid: 0,
      conmonPid: 0,
      ...(paths.ipc ? { ipcPath: paths.ipc } : {}),
      ...(paths.uts ? { utsPath: paths.uts } : {}),
    };
  }

  async undoCreate(id: string): Promise<void> {
    await this.#pins.unpin(id);
  }

  start(_id: string): Promise<void> {
    return Promise.resolve();
  }

  namespacePaths(sandbox: SandboxRecord): HeldNamespacePaths {
    if (sandbox.status.state !== "SANDBOX_READY") {
      throw new FailedPreconditionError(
        `Pod sandbox "${sandbox.id}" is not ready: its namespaces are gone`,
      );
    }
    const { ipcPath, utsPath } = sandbox.metadata;
    return { ...(ipcPath ? { ipc: ipcPath } : {}), ...(utsPath ? { uts: utsPath } : {}) };
  }

  async alive(sandbox: SandboxRecord): Promise<boolean> {
    const { ipcPath, utsPath } = sandbox.metadata;
    return await this.#pins.arePinned({
      ...(ipcPath ? { ipc: ipcPath } : {}),
      ...(utsPath ? { uts: utsPath } : {}),
    });
  }

  async release(sandbox: SandboxRecord): Promise<void> {
    await this.#pins.unpin(sandbox.id);
  }

  async remove(sandbox: SandboxRecord): Promise<void> {
    await this.#pins.unpin(sandbox.id);
  }
}
