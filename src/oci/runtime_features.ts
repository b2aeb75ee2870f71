/**
 * What each runtime handler can honour, asked once at start of the runtime itself (`<runtime>
 * features`, the OCI runtime features document) and of the kernel, as containerd does: Status
 * reports it to kubelet (`RuntimeHandlerFeatures`), and CreateContainer refuses what the handler
 * cannot do instead of passing it to the runtime.
 *
 * - Recursive read-only mounts (`Mount.recursive_read_only`, the `rro` mount option): the runtime
 *   must list `rro` among its mount options (runc 1.1 does; crun 1.8 has no `features` command)
 *   and the kernel must have `mount_setattr(2)` (Linux 5.12).
 * - Starting by the exec FIFO (`exec_fifo.ts`): only runc, which names itself in the document's
 *   annotations (`org.opencontainers.runc.version`, runc 1.1 on).
 *
 * @module
 */
import { findRuntimeHandler, runtimeHandlers } from "../config/runtime_handlers.ts";
import type { Config } from "../config/types.ts";
import type { Runner } from "../process.ts";

/** What one runtime handler can honour. */
export interface RuntimeFeatures {
  /** `rro` mounts: the runtime lists the option and the kernel has `mount_setattr(2)`. */
  recursiveReadOnlyMounts: boolean;
  /**
   * The runtime is runc (its document's annotations carry `org.opencontainers.runc.version`),
   * whose state dir the daemon reads and acts on itself: a created container is started through
   * its exec FIFO (`exec_fifo.ts`), a stopped one deleted (`direct_delete.ts`).
   */
  runcInternals: boolean;
}

/** Nothing beyond the basics: a runtime that cannot say, or a kernel too old. */
export const NO_RUNTIME_FEATURES: RuntimeFeatures = Object.freeze({
  recursiveReadOnlyMounts: false,
  runcInternals: false,
});

/**
 * Whether a kernel release (`uname -r`, `Deno.osRelease()`) is Linux 5.12 or later, the first
 * with `mount_setattr(2)`.
 */
export function kernelHasMountSetattr(release: string): boolean {
  const m = release.match(/^(\d+)\.(\d+)/);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 12);
}

/** The kernel's release (`uname -r`); "" when it cannot be read (no `--allow-sys`). */
export function kernelRelease(): string {
  try {
    return Deno.osRelease();
  } catch {
    return "";
  }
}

/**
 * Reads a runtime's features document (the JSON `<runtime> features` prints).
 *
 * @param text The document.
 * @param release The kernel release.
 * @returns The handler's features; none when the document cannot be read.
 */
export function parseRuntimeFeatures(text: string, release: string): RuntimeFeatures {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return NO_RUNTIME_FEATURES;
  }
  const { mountOptions: options, annotations } = (doc ?? {}) as {
    mountOptions?: unknown;
    annotations?: unknown;
  };
  const rro = Array.isArray(options) && options.includes("rro");
  const runc = typeof annotations === "object" && annotations !== null &&
    typeof (annotations as Record<string, unknown>)["org.opencontainers.runc.version"] === "string";
  return { recursiveReadOnlyMounts: rro && kernelHasMountSetattr(release), runcInternals: runc };
}

/**
 * Asks a runtime for its features (`<runtime> features`, 10 s at most). A runtime without the
 * command, or one that fails, has none.
 *
 * @param runner Runs the runtime.
 * @param runtimePath The runtime's binary.
 * @param release The kernel release. @default {@linkcode kernelRelease}()
 * @returns The handler's features and, when it has none, why.
 */
export async function probeRuntimeFeatures(
  runner: Runner,
  runtimePath: string,
  release = kernelRelease(),
): Promise<{ features: RuntimeFeatures; problem?: string }> {
  try {
    const res = await runner.run(runtimePath, ["features"], { timeoutMs: 10_000, check: false });
    if (res.code !== 0) {
      const why = new TextDecoder().decode(res.stderr).trim() || `exit code ${res.code}`;
      return { features: NO_RUNTIME_FEATURES, problem: `"${runtimePath} features": ${why}` };
    }
    return { features: parseRuntimeFeatures(new TextDecoder().decode(res.stdout), release) };
  } catch (err) {
    return {
      features: NO_RUNTIME_FEATURES,
      problem: `"${runtimePath} features": ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/**
 * Asks every runtime handler's runtime for its features, each binary once and all at once.
 *
 * @param config The handlers (`[runtime]`, `[runtimes.*]`).
 * @param runner Runs the runtimes.
 * @param release The kernel release. @default {@linkcode kernelRelease}()
 * @returns The features by handler name, and what could not be asked, by handler name.
 */
export async function probeHandlerFeatures(
  config: Config,
  runner: Runner,
  release = kernelRelease(),
): Promise<{ features: Map<string, RuntimeFeatures>; problems: Map<string, string> }> {
  const handlers = runtimeHandlers(config);
  const byPath = new Map<string, ReturnType<typeof probeRuntimeFeatures>>();
  for (const h of handlers.values()) {
    if (!byPath.has(h.runtimePath)) {
      byPath.set(h.runtimePath, probeRuntimeFeatures(runner, h.runtimePath, release));
    }
  }
  const features = new Map<string, RuntimeFeatures>();
  const problems = new Map<string, string>();
  for (const [name, h] of handlers) {
    const probed = await byPath.get(h.runtimePath)!;
    features.set(name, probed.features);
    if (probed.problem) problems.set(name, probed.problem);
  }
  return { features, problems };
}

/**
 * The features of the handler a pod asked for (`""`: the default one); none for a handler that
 * is not configured or was not probed.
 */
export function handlerFeatures(
  deps: { config: Config; runtimeFeatures: ReadonlyMap<string, RuntimeFeatures> },
  requested: string,
): RuntimeFeatures {
  const name = findRuntimeHandler(deps.config, requested)?.name;
  return (name === undefined ? undefined : deps.runtimeFeatures.get(name)) ??
    NO_RUNTIME_FEATURES;
}
