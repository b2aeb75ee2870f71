/**
 * The CRI streaming server (Exec, Attach, PortForward over SPDY/3.1): {@linkcode StreamServer}
 * listens on TCP; the RPC handlers reach it through {@linkcode StreamUrls}.
 *
 * @module
 */
import type { ContainerStore, SandboxStore } from "../store/mod.ts";
import type { StreamContainer, StreamSandbox } from "./server.ts";
import type { ExecRuntime } from "./types.ts";

export * from "./types.ts";
export * from "./server.ts";
export * from "./token_cache.ts";

/**
 * The container and pod lookups of the streaming server, from the daemon's stores.
 *
 * @param containers The container store.
 * @param sandboxes The sandbox store.
 */
export function storeLookups(
  containers: ContainerStore,
  sandboxes: SandboxStore,
  runtimeOf?: (containerId: string) => ExecRuntime | undefined,
): {
  container(id: string): StreamContainer | undefined;
  sandbox(id: string): StreamSandbox | undefined;
} {
  return {
    container(id) {
      let c;
      try {
        c = containers.get(id);
      } catch {
        return undefined;
      }
      return {
        id: c.id,
        bundle: c.metadata.bundle,
        logPath: c.metadata.logPath,
        running: c.status.state === "CONTAINER_RUNNING",
        ...runtimeField(runtimeOf?.(c.id)),
      };
    },
    sandbox(id) {
      let s;
      try {
        s = sandboxes.get(id);
      } catch {
        return undefined;
      }
      return {
        id: s.id,
        ready: s.status.state === "SANDBOX_READY",
        ...(s.metadata.netnsPath ? { netnsPath: s.metadata.netnsPath } : {}),
      };
    },
  };
}

function runtimeField(runtime: ExecRuntime | undefined) {
  return runtime ? { runtime } : {};
}
