/**
 * A {@linkcode Target} over any CRI v1 endpoint: the same pod and container shape for
 * every runtime (a pause sandbox on the runtime's CNI network, one busybox container
 * running `sleep 3600`).
 *
 * @module
 */
import { connectCri, type CriClient } from "./_client.ts";
import { waitFor } from "./_proc.ts";
import type { Target } from "./target.ts";

/** Options of {@linkcode criTarget}. */
export interface CriTargetOptions {
  /** Reference of the busybox image the container runs. */
  busybox: string;
  /** Base directory for pod log directories (must exist or be creatable). */
  logDir: string;
  /** The daemon's pid, when the harness started it. */
  daemonPid?: number;
  /** Lists the runtime's per-pod processes. @default () => [] */
  monitors?: () => number[];
  /** Resolves when the daemon exits: stop waiting for it then. */
  exited?: Promise<number>;
  /** How long to wait for the endpoint to answer Version. @default 60000 */
  readyTimeoutMs?: number;
}

// deno-lint-ignore no-explicit-any
type Msg = Record<string, any>;

/** A CRI target plus its client, for callers that need raw calls. */
export interface CriTarget extends Target {
  readonly client: CriClient;
}

/**
 * Connects to `endpoint` and waits until it answers `Version`.
 *
 * @param name the target's name in results
 * @param endpoint `unix:///path`
 * @param options images, log dir, daemon pid, monitor lister
 * @throws Error naming the endpoint when it never answers
 */
export async function criTarget(
  name: string,
  endpoint: string,
  options: CriTargetOptions,
): Promise<CriTarget> {
  const client = connectCri(endpoint);
  let lastError = "";
  let exitCode: number | undefined;
  options.exited?.then((code) => exitCode = code);
  try {
    await waitFor(`${name} to answer Version on ${endpoint}`, async () => {
      if (exitCode !== undefined) throw new Error(`${name} exited with code ${exitCode}`);
      try {
        await client.runtime.Version!({}, { timeoutMs: 2_000 });
        return true;
      } catch (err) {
        lastError = (err as Error).message;
        return false;
      }
    }, { timeoutMs: options.readyTimeoutMs ?? 60_000, intervalMs: 250 });
  } catch (err) {
    client.close();
    throw new Error(`${(err as Error).message}: ${lastError}`, { cause: err });
  }
  const rt = client.runtime;
  const pods = new Map<string, Msg>();

  const podConfig = (podName: string): Msg => {
    const uid = crypto.randomUUID();
    return {
      metadata: { name: podName, namespace: "ocid-bench", uid, attempt: 0 },
      hostname: podName,
      log_directory: `${options.logDir}/${podName}_${uid}`,
      labels: { "ocid-bench": "1" },
      linux: {
        security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
      },
    };
  };

  const target: CriTarget = {
    name,
    client,
    daemonPid: options.daemonPid,
    monitors: options.monitors ?? (() => []),
    images: {
      async pull(ref) {
        await client.image.PullImage!({ image: { image: ref } });
      },
      async remove(ref) {
        await client.image.RemoveImage!({ image: { image: ref } }).catch((err: Error) => {
          if (!/not ?found/i.test(err.message)) throw err;
        });
      },
    },
    async runPodSandbox(podName) {
      const config = podConfig(podName);
      const res = await rt.RunPodSandbox!({ config });
      pods.set(res.pod_sandbox_id, config);
      return res.pod_sandbox_id as string;
    },
    async createContainer(podId, ctrName) {
      const sandbox_config = pods.get(podId);
      if (!sandbox_config) throw new Error(`Cannot find bench pod "${podId}" on ${name}`);
      const res = await rt.CreateContainer!({
        pod_sandbox_id: podId,
        config: {
          metadata: { name: ctrName, attempt: 0 },
          image: { image: options.busybox },
          command: ["sleep", "3600"],
          log_path: `${ctrName}.log`,
          labels: { "ocid-bench": "1" },
          linux: {},
        },
        sandbox_config,
      });
      return res.container_id as string;
    },
    async startContainer(id) {
      await rt.StartContainer!({ container_id: id });
    },
    async containerStatus(id) {
      await rt.ContainerStatus!({ container_id: id });
    },
    async listContainers() {
      const res = await rt.ListContainers!({});
      return (res.containers as unknown[]).length;
    },
    async execSync(id, cmd) {
      const res = await rt.ExecSync!({ container_id: id, cmd, timeout: 30 });
      if (res.exit_code !== 0) {
        throw new Error(`ExecSync ${JSON.stringify(cmd)} on ${name} exited ${res.exit_code}`);
      }
    },
    async stopContainer(id) {
      await rt.StopContainer!({ container_id: id, timeout: 0 });
    },
    async stopPodSandbox(id) {
      await rt.StopPodSandbox!({ pod_sandbox_id: id });
    },
    async removePodSandbox(id) {
      await rt.RemovePodSandbox!({ pod_sandbox_id: id });
      pods.delete(id);
    },
    async removeAllPods() {
      const listed = await rt.ListPodSandbox!({ filter: { label_selector: { "ocid-bench": "1" } } })
        .then((r) => (r.items as Msg[]).map((p) => p.id as string))
        .catch(() => [] as string[]);
      for (const id of new Set([...pods.keys(), ...listed])) {
        await rt.StopPodSandbox!({ pod_sandbox_id: id }).catch(() => {});
        await rt.RemovePodSandbox!({ pod_sandbox_id: id }).catch(() => {});
        pods.delete(id);
      }
    },
    async close() {
      await target.removeAllPods().catch(() => {});
      client.close();
    },
  };
  return target;
}
