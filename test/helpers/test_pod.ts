/**
 * The set-up integration tests share: a daemon on the test's bridge with busybox pulled from
 * the test registry, a pod of the usual shape (its own cgroup parent; the pod's network and
 * IPC, each container's own pid namespace), containers of busybox in it, and the removal of
 * the cgroup parent at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { listDir, pushBusybox } from "./checks.ts";
import { startDaemon, type TestDaemon } from "./daemon.ts";

/** Options of {@linkcode startDaemonWithBusybox}. */
export interface BusyboxDaemonOptions {
  /** The repository to push busybox to, like `it21/busybox`. */
  repo: string;
  /** The test's own bridge, like `ocidt21`. */
  bridge: string;
  /** The test's own /24 in 10.234.0.0/16. */
  subnet: string;
  /** More of the daemon's configuration file (TOML). */
  config?: string;
  /** An IPv6 range too, for dual-stack pods. */
  ipv6Subnet?: string;
}

/**
 * Pushes busybox to the registry, starts the daemon and pulls the image. A daemon started is
 * cleaned up when the pull fails.
 *
 * @param registryHost The test registry's `host:port`.
 * @param options The repository, bridge and subnet.
 * @returns The daemon (the caller cleans it up) and the image reference.
 */
export async function startDaemonWithBusybox(
  registryHost: string,
  options: BusyboxDaemonOptions,
): Promise<{ daemon: TestDaemon; image: string }> {
  const image = await pushBusybox(registryHost, options.repo);
  const daemon = await startDaemon({
    bridge: options.bridge,
    subnet: options.subnet,
    ...(options.config ? { config: options.config } : {}),
    ...(options.ipv6Subnet ? { ipv6Subnet: options.ipv6Subnet } : {}),
  });
  try {
    await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
  } catch (err) {
    await daemon.cleanup();
    throw err;
  }
  return { daemon, image };
}

/** Options of {@linkcode testPodConfig}. */
export interface TestPodConfigOptions {
  namespace: string;
  /** The pod's cgroup parent, like `/ocid-it21` (see {@linkcode removeCgroupParent}). */
  cgroupParent: string;
  /** @default `uid-<name>` */
  uid?: string;
  labels?: Record<string, string>;
  /** The pod's PID namespace mode: POD keeps the infra container. @default "CONTAINER" */
  pid?: "CONTAINER" | "POD" | "NODE";
}

/**
 * A pod config: hostname `name`, the pod's network and IPC namespaces, each container's own
 * pid namespace (or `pid`), under the test's cgroup parent.
 */
export function testPodConfig(
  name: string,
  options: TestPodConfigOptions,
): cri.PodSandboxConfigInit {
  return {
    metadata: { name, namespace: options.namespace, uid: options.uid ?? `uid-${name}`, attempt: 0 },
    hostname: name,
    ...(options.labels ? { labels: options.labels } : {}),
    linux: {
      cgroup_parent: options.cgroupParent,
      security_context: {
        namespace_options: { network: "POD", pid: options.pid ?? "CONTAINER", ipc: "POD" },
      },
    },
  };
}

/** A running pod: its id and the config it ran with (CreateContainer needs both). */
export interface TestPod {
  id: string;
  config: cri.PodSandboxConfigInit;
}

/** Runs a pod (RunPodSandbox, 60 s deadline). */
export async function runTestPod(
  runtime: grpc.Client,
  config: cri.PodSandboxConfigInit,
): Promise<TestPod> {
  const res = await call(runtime, "RunPodSandbox", { config }, { deadlineMs: 60_000 });
  return { id: res.pod_sandbox_id, config };
}

/** Options of {@linkcode createTestContainer}. */
export interface TestContainerOptions {
  name: string;
  image: string;
  command: string[];
  /** Relative to the pod's log directory. @default `<name>/0.log` */
  logPath?: string;
  /** More of the container's config, like `{ stdin: true, stdin_once: true }`. */
  config?: cri.ContainerConfigInit;
}

/**
 * Creates (does not start) a container in a pod (CreateContainer, 60 s deadline).
 *
 * @returns The container's id.
 */
export async function createTestContainer(
  runtime: grpc.Client,
  pod: TestPod,
  options: TestContainerOptions,
): Promise<string> {
  const { name } = options;
  const res = await call(runtime, "CreateContainer", {
    pod_sandbox_id: pod.id,
    sandbox_config: pod.config,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: options.image },
      command: options.command,
      log_path: options.logPath ?? `${name}/0.log`,
      ...options.config,
    },
  }, { deadlineMs: 60_000 });
  return res.container_id;
}

/** Removes a test's cgroup parent (empty by then) from every hierarchy; missing is fine. */
export async function removeCgroupParent(cgroupParent: string): Promise<void> {
  for (const hierarchy of await listDir("/sys/fs/cgroup")) {
    await Deno.remove(join("/sys/fs/cgroup", hierarchy, cgroupParent)).catch(() => {});
  }
}

/**
 * Runs busybox `cmd` in container `id` through ExecSync and fails with its stderr unless it
 * exits 0.
 *
 * @returns Its stdout, trimmed.
 */
export async function execBusybox(d: TestDaemon, id: string, ...cmd: string[]): Promise<string> {
  const res = await call(d.clients.runtime, "ExecSync", {
    container_id: id,
    cmd: ["/bin/busybox", ...cmd],
    timeout: 10,
  }, { deadlineMs: 30_000 });
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.equal(res.exit_code, 0, `${cmd.join(" ")}: ${text(res.stderr)}`);
  return text(res.stdout).trim();
}
