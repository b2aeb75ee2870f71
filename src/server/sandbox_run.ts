/**
 * RunPodSandbox: reserve the name, make the sandbox's dirs, files, /dev/shm and network
 * namespace, wire the network through CNI, generate the infra container's spec, create it
 * through conmon, start it, and record the sandbox. Every step registers its undo; a failure
 * anywhere runs them in reverse and leaves nothing behind.
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { mountShm, unmount } from "../mounts.ts";
import { buildSandboxSpec, hostsFile, resolvConf } from "../spec/mod.ts";
import { SANDBOX_LOG_DIRECTORY } from "../spec/annotations.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import type { Deps } from "./deps.ts";
import { newId, sandboxName } from "./naming.ts";
import { clampOomScoreAdj } from "../oci/oom.ts";
import { nowNs } from "./time.ts";

/** What RunPodSandbox uses. */
export type RunPodSandboxDeps = Pick<
  Deps,
  | "config"
  | "log"
  | "runner"
  | "locks"
  | "runtime"
  | "network"
  | "netns"
  | "sandboxes"
  | "exits"
  | "infraRootfs"
  | "ownOomScoreAdj"
>;

/** The oom_score_adj CRI-O and containerd give the infra process. */
const INFRA_OOM_SCORE_ADJ = -998;

/** Runs a pod sandbox; see the module doc. */
export async function runPodSandbox(
  deps: RunPodSandboxDeps,
  req: cri.RunPodSandboxRequest,
): Promise<cri.RunPodSandboxResponseInit> {
  const config = req.config;
  if (!config || !config.metadata) {
    throw new InvalidArgumentError("Missing config.metadata in RunPodSandboxRequest");
  }
  const handler = req.runtime_handler ?? "";
  if (handler !== "" && handler !== deps.config.runtime.name) {
    throw new InvalidArgumentError(`Unknown runtime handler "${handler}"`);
  }
  const meta = config.metadata;
  const name = sandboxName({
    name: meta.name,
    namespace: meta.namespace,
    uid: meta.uid,
    attempt: meta.attempt,
  });

  using _ = await deps.locks.lock(`sandbox-name:${name}`);
  const id = newId();
  await using stack = new AsyncDisposableStack();
  deps.sandboxes.reserveName(name, id);
  stack.defer(() => deps.sandboxes.releaseName(name));

  const log = deps.log;
  const linux = config.linux;
  const nsOpts = linux?.security_context?.namespace_options;
  const hostNetwork = nsOpts?.network === "NODE";
  const hostIpc = nsOpts?.ipc === "NODE";

  // Directories: persistent sandbox dir (bundle, files), volatile run dir (shm).
  const dir = join(deps.config.root, "sandboxes", id);
  const runDir = join(deps.config.runroot, "sandboxes", id);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  stack.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  await Deno.mkdir(runDir, { recursive: true, mode: 0o700 });
  stack.defer(() => Deno.remove(runDir, { recursive: true }).catch(() => {}));

  const logDirectory = config.log_directory || join(deps.config.podLogDir, id);
  const logDirExisted = await exists(logDirectory);
  await Deno.mkdir(logDirectory, { recursive: true, mode: 0o755 });
  if (!logDirExisted) {
    stack.defer(() => Deno.remove(logDirectory, { recursive: true }).catch(() => {}));
  }

  // Files the infra and every container of the pod share.
  const hostname = hostNetwork ? Deno.hostname() : (config.hostname || meta.name);
  const hostnamePath = join(dir, "hostname");
  const resolvPath = join(dir, "resolv.conf");
  const hostsPath = join(dir, "hosts");
  const hostResolv = await Deno.readTextFile("/etc/resolv.conf").catch(() => "");
  await Deno.writeTextFile(hostnamePath, hostname + "\n");
  await Deno.writeTextFile(resolvPath, resolvConf(config.dns_config ?? null, hostResolv));

  let shmPath: string | undefined;
  if (!hostIpc) {
    shmPath = join(runDir, "shm");
    await mountShm(deps.runner, shmPath);
    const path = shmPath;
    stack.defer(() => unmount(deps.runner, path));
  }

  // Network: a namespace that outlives the infra process, wired by CNI.
  let netnsPath: string | undefined;
  let ips: { address: string; family: 4 | 6 }[] = [];
  let networkResult: unknown = undefined;
  if (!hostNetwork) {
    netnsPath = await deps.netns.create(id);
    const path = netnsPath;
    stack.defer(() => deps.netns.remove(path));
    const portMappings = (config.port_mappings ?? []).map((p) => ({
      protocol: p.protocol,
      containerPort: p.container_port,
      hostPort: p.host_port,
      hostIp: p.host_ip,
    }));
    const network = await deps.network.setUp({
      id,
      netnsPath: path,
      podName: meta.name,
      podNamespace: meta.namespace,
      podUid: meta.uid,
      portMappings,
    });
    stack.defer(() =>
      deps.network.tearDown({
        id,
        netnsPath: path,
        podName: meta.name,
        podNamespace: meta.namespace,
        podUid: meta.uid,
      })
    );
    ips = network.ips;
    networkResult = network.result;
  }
  await Deno.writeTextFile(hostsPath, hostsFile(hostname, { ips: ips.map((ip) => ip.address) }));

  // The infra container.
  const createdAt = nowNs();
  const cgroupParent = linux?.cgroup_parent ?? "";
  const spec = buildSandboxSpec(config, {
    id,
    rootfs: deps.infraRootfs,
    pauseArgs: ["/pause", ...deps.config.pause.args],
    hostnamePath,
    resolvPath,
    hostsPath,
    ...(shmPath ? { shmPath } : {}),
    ...(netnsPath ? { netnsPath } : {}),
    cgroupParent,
    cgroupManager: deps.config.cgroupManager,
    oomScoreAdj: clampOomScoreAdj(
      INFRA_OOM_SCORE_ADJ,
      deps.ownOomScoreAdj,
      deps.config.restrictOomScoreAdj,
    ),
    annotations: { [SANDBOX_LOG_DIRECTORY]: logDirectory },
  });
  await writeFileAtomic(join(dir, "config.json"), JSON.stringify(spec, null, 2));

  const created = await deps.runtime.create({
    id,
    bundle: dir,
    persistDir: dir,
    logPath: join(dir, "infra.log"),
    name,
  });
  stack.defer(async () => {
    await deps.runtime.kill(id, "KILL").catch(() => {});
    await deps.runtime.delete(id, { force: true });
  });
  await deps.runtime.start(id);

  const record: SandboxRecord = {
    id,
    name,
    metadata: {
      config,
      createdAt,
      runtimeHandler: handler,
      netnsPath: netnsPath ?? "",
      shmPath: shmPath ?? "",
      logDirectory,
      bundle: dir,
      runDir,
      cgroupParent,
      hostname,
    },
    status: {
      state: "SANDBOX_READY",
      pid: created.pid,
      conmonPid: created.conmonPid,
      ips: ips.map((ip) => ip.address),
      networkResult,
    },
  };
  await deps.sandboxes.add(record);
  stack.move();
  log.info("Sandbox is ready", { id, name, ip: ips[0]?.address, pid: created.pid });
  return { pod_sandbox_id: id };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
