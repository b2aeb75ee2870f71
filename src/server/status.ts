/**
 * Status: RuntimeReady (the default handler's OCI runtime and conmon are executable) and
 * NetworkReady (a valid CNI config with its plugins exists), with reasons when not ready; the
 * RuntimeClass handlers ("" for the default, then each by name). `verbose` adds the config.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { runtimeHandlers } from "../config/runtime_handlers.ts";
import type { Deps } from "./deps.ts";
import { handlerFeatures } from "../oci/runtime_features.ts";

/** Answers Status. */
export async function status(
  deps: Pick<Deps, "config" | "network" | "runtimeFeatures">,
  req: cri.StatusRequest,
): Promise<cri.StatusResponseInit> {
  const handlers = runtimeHandlers(deps.config);
  const byDefault = handlers.get(deps.config.defaultRuntime);
  const runtimeProblem = await firstMissing(
    byDefault
      ? [byDefault.runtimePath, byDefault.monitorPath]
      : [deps.config.runtime.path, deps.config.conmon.path],
  );
  const runtime: cri.RuntimeConditionInit = {
    type: "RuntimeReady",
    status: runtimeProblem === undefined,
    reason: runtimeProblem === undefined ? "" : "RuntimeNotReady",
    message: runtimeProblem === undefined ? "" : `Cannot execute "${runtimeProblem}"`,
  };
  const net = await deps.network.status();
  const network: cri.RuntimeConditionInit = {
    type: "NetworkReady",
    status: net.ready,
    reason: net.ready ? "" : net.reason ?? "NetworkPluginNotReady",
    message: net.ready ? "" : net.message ?? "",
  };
  // "" is the default handler, then each configured one (as CRI-O reports them), each with what
  // its runtime and the kernel can do (asked at start).
  const response: cri.StatusResponseInit = {
    status: { conditions: [runtime, network] },
    info: {},
    runtime_handlers: ["", ...handlers.keys()].map((name) => ({
      name,
      features: {
        recursive_read_only_mounts: handlerFeatures(deps, name).recursiveReadOnlyMounts,
        user_namespaces: false,
      },
    })),
    // Strict is honoured (resolveContainerUser); the kubelet refuses Strict pods otherwise.
    features: { supplemental_groups_policy: true },
  };
  if (req.verbose) response.info = { config: JSON.stringify(deps.config) };
  return response;
}

async function firstMissing(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    const info = await Deno.stat(path).catch(() => undefined);
    if (!info || !info.isFile || ((info.mode ?? 0) & 0o111) === 0) return path;
  }
  return undefined;
}
