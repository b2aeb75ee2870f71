/**
 * RunPodSandbox: reserve the name, make the sandbox's dirs, files, /dev/shm and network
 * namespace, wire the network through CNI, generate the infra container's spec, create it
 * through conmon, start it, and record the sandbox. Every step registers its undo; a failure
 * anywhere runs them in reverse and leaves nothing behind. The sandbox dir is made first and is the
 * intent record: after a crash, a sandbox dir without `sandbox.json` tells the start-up sweep
 * (src/gc.ts) which ID's netns, CNI allocation, runtime state and mounts to remove.
 *
 * Retries: a request for a name whose creation is in flight waits for that creation and gets
 * its ID; when the client of a creation gave up (deadline or cancel) before it finished, the
 * ID is kept for the kubelet's retry, which gets it once. Otherwise a second request for the
 * name of an existing pod fails with ALREADY_EXISTS.
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
import { pauseImageRoot } from "../sandbox/pause_image.ts";
import { clampOomScoreAdj } from "../oci/oom.ts";
import { nowNs } from "./time.ts";
import type { CallContext } from "./instrument.ts";
import { crashPoint } from "../crash.ts";
import type { SandboxStore } from "../store/sandbox.ts";
import { publishSandboxEvent } from "./container_events.ts";

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
  | "images"
  | "ownOomScoreAdj"
  | "events"
  | "containers"
>;

/** The oom_score_adj CRI-O and containerd give the infra process. */
const INFRA_OOM_SCORE_ADJ = -998;

/** Creations under way and results kept for retries, per sandbox store. */
interface Creations {
  /** Name → the creation that will return its ID; `joined` once a retry waited for it. */
  inFlight: Map<string, { promise: Promise<string>; joined: boolean }>;
  /** IDs whose creation is under way (the garbage sweep must leave them alone). */
  ids: Set<string>;
  /** Name → ID of a pod whose client gave up before it was made. */
  kept: Map<string, string>;
}

const creationsByStore = new WeakMap<SandboxStore, Creations>();

function creationsOf(store: SandboxStore): Creations {
  let c = creationsByStore.get(store);
  if (!c) creationsByStore.set(store, c = { inFlight: new Map(), ids: new Set(), kept: new Map() });
  return c;
}

/** IDs of sandboxes being created now with this store; the sweep skips them. */
export function sandboxesInCreation(store: SandboxStore): ReadonlySet<string> {
  return creationsOf(store).ids;
}

/** Runs a pod sandbox; see the module doc. */
export async function runPodSandbox(
  deps: RunPodSandboxDeps,
  req: cri.RunPodSandboxRequest,
  ctx?: Pick<CallContext, "signal">,
): Promise<cri.RunPodSandboxResponseInit> {
  const config = req.config;
  if (!config || !config.metadata) {
    throw new InvalidArgumentError("Missing config.metadata in RunPodSandboxRequest");
  }
  const meta = config.metadata;
  const name = sandboxName({
    name: meta.name,
    namespace: meta.namespace,
    uid: meta.uid,
    attempt: meta.attempt,
  });
  const creations = creationsOf(deps.sandboxes);
  const pending = creations.inFlight.get(name);
  if (pending) {
    deps.log.info("RunPodSandbox: the pod is being created, waiting for it", { name });
    pending.joined = true;
    const id = await pending.promise.catch(() => undefined);
    if (id !== undefined && deps.sandboxes.has(id)) return { pod_sandbox_id: id };
  }
  const kept = creations.kept.get(name);
  if (kept !== undefined) {
    creations.kept.delete(name);
    if (deps.sandboxes.has(kept)) {
      deps.log.info("RunPodSandbox: returning the pod made for a request that gave up", {
        name,
        id: kept,
      });
      return { pod_sandbox_id: kept };
    }
  }
  if (creations.inFlight.has(name)) {
    // Another waiter started a new creation meanwhile: join it.
    return await runPodSandbox(deps, req, ctx);
  }
  const creation = { promise: createSandbox(deps, req, name, creations), joined: false };
  creations.inFlight.set(name, creation);
  try {
    const id = await creation.promise;
    // The client gave up and no retry has the ID yet: keep it for the retry.
    if (ctx?.signal.aborted && !creation.joined) creations.kept.set(name, id);
    return { pod_sandbox_id: id };
  } finally {
    if (creations.inFlight.get(name) === creation) creations.inFlight.delete(name);
  }
}

async function createSandbox(
  deps: RunPodSandboxDeps,
  req: cri.RunPodSandboxRequest,
  name: string,
  creations: Creations,
): Promise<string> {
  const config = req.config!;
  const meta = config.metadata!;
  const handler = req.runtime_handler ?? "";
  if (handler !== "" && handler !== deps.config.runtime.name) {
    throw new InvalidArgumentError(`Unknown runtime handler "${handler}"`);
  }

  using _ = await deps.locks.lock(`sandbox-name:${name}`);
  const id = newId();
  await using stack = new AsyncDisposableStack();
  deps.sandboxes.reserveName(name, id);
  stack.defer(() => deps.sandboxes.releaseName(name));
  creations.ids.add(id);
  stack.defer(() => void creations.ids.delete(id));

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
  crashPoint("sandbox_run:after_dirs");

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
    crashPoint("sandbox_run:after_shm");
  }

  // Network: a namespace that outlives the infra process. CNI wires it while the infra
  // container is created: the spec needs only the netns path, and the hosts file (bind-mounted
  // by path) is rewritten in place once the IPs are known.
  let netnsPath: string | undefined;
  if (!hostNetwork) {
    netnsPath = await deps.netns.create(id);
    const path = netnsPath;
    stack.defer(() => deps.netns.remove(path));
    crashPoint("sandbox_run:after_netns");
  }
  await Deno.writeTextFile(hostsPath, hostsFile(hostname));

  const createdAt = nowNs();
  const cgroupParent = linux?.cgroup_parent ?? "";
  const podRef = {
    id,
    podName: meta.name,
    podNamespace: meta.namespace,
    podUid: meta.uid,
  };
  const wireNetwork = async () => {
    if (netnsPath === undefined) return undefined;
    const portMappings = (config.port_mappings ?? []).map((p) => ({
      protocol: p.protocol,
      containerPort: p.container_port,
      hostPort: p.host_port,
      hostIp: p.host_ip,
    }));
    return await deps.network.setUp({ ...podRef, netnsPath, portMappings });
  };
  const createInfra = async () => {
    let infra = { rootfs: deps.infraRootfs, args: ["/pause", ...deps.config.pause.args] };
    if (deps.config.pause.image) {
      const root = await pauseImageRoot(deps.images, { id, image: deps.config.pause.image });
      stack.defer(() => root.release());
      infra = root;
    }
    const spec = buildSandboxSpec(config, {
      id,
      rootfs: infra.rootfs,
      pauseArgs: infra.args,
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
      allowedAnnotations: deps.config.runtime.allowedAnnotations,
      onDroppedAnnotations: (keys) =>
        deps.log.warn("Dropped pod annotations a runtime or ocid acts on", { id, keys }),
    });
    await writeFileAtomic(join(dir, "config.json"), JSON.stringify(spec));
    return await deps.runtime.create({
      id,
      bundle: dir,
      persistDir: dir,
      logPath: join(dir, "infra.log"),
      name,
    });
  };
  const [network, infra] = await Promise.allSettled([wireNetwork(), createInfra()]);
  // Register the undo of whatever succeeded before failing on what did not.
  if (network.status === "fulfilled" && netnsPath !== undefined) {
    const path = netnsPath;
    stack.defer(() => deps.network.tearDown({ ...podRef, netnsPath: path }));
    crashPoint("sandbox_run:after_cni");
  }
  if (infra.status === "fulfilled") {
    stack.defer(async () => {
      await deps.runtime.kill(id, "KILL").catch(() => {});
      await deps.runtime.delete(id, { force: true });
    });
    crashPoint("sandbox_run:after_create");
  }
  if (network.status === "rejected") throw network.reason;
  if (infra.status === "rejected") throw infra.reason;
  const created = infra.value;
  const ips = network.value?.ips ?? [];
  const networkResult = network.value?.result;
  if (ips.length > 0) {
    await Deno.writeTextFile(hostsPath, hostsFile(hostname, { ips: ips.map((ip) => ip.address) }));
  }
  await deps.runtime.start(id);
  crashPoint("sandbox_run:after_start");

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
  creations.ids.delete(id);
  crashPoint("sandbox_run:after_record");
  publishSandboxEvent(deps, "CONTAINER_CREATED_EVENT", record);
  publishSandboxEvent(deps, "CONTAINER_STARTED_EVENT", record);
  log.info("Sandbox is ready", { id, name, ip: ips[0]?.address, pid: created.pid });
  return id;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
