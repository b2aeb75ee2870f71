/**
 * Status: RuntimeReady (the OCI runtime and conmon are executable) and NetworkReady (a valid
 * CNI config with its plugins exists), with reasons when not ready. `verbose` adds the config.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";

/** Answers Status. */
export async function status(
  deps: Pick<Deps, "config" | "network">,
  req: cri.StatusRequest,
): Promise<cri.StatusResponseInit> {
  const runtimeProblem = await firstMissing([deps.config.runtime.path, deps.config.conmon.path]);
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
  const response: cri.StatusResponseInit = {
    status: { conditions: [runtime, network] },
    info: {},
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
