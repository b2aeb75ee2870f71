/**
 * RunPodSandbox: reserve the name, make the sandbox's dirs, files, /dev/shm and network
 * namespace, wire the network through CNI while the pod's holder makes its other namespaces
 * (`src/sandbox/holder.ts`: an infra container created through conmon and started, or the IPC
 * and UTS namespaces pinned as files with the hostname and sysctls set inside them), and record
 * the sandbox with its holder's kind. The steps that do not need each other run at
 * once (the sandbox dir and the files; the netns and CNI; the run dir and /dev/shm; the log
 * dir).
 * Every step registers its undo; a failure anywhere waits for the steps under way, runs the
 * undos in reverse and leaves nothing behind. After a crash, any trace of the ID
 * (a sandbox dir without `sandbox.json`, the run dir, the netns file, the pinned namespaces,
 * the CNI cache entry) tells the start-up sweep (src/gc.ts) which ID's netns, pinned
 * namespaces, CNI allocation, runtime state and mounts to remove.
 *
 * Retries (`retried_creations.ts`, shared with CreateContainer): a request for a name whose
 * creation is in flight waits for that creation and gets its ID; when the client of a creation
 * gave up (deadline or cancel) before it finished, the ID is kept for the kubelet's retry, which
 * gets it once. Otherwise a second request for the name of an existing pod fails with
 * ALREADY_EXISTS.
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { requireRuntimeHandler } from "../config/runtime_handlers.ts";
import { mountShm, unmount } from "../mounts.ts";
import {
  hostsFile,
  isValidHostname,
  podNamespaces,
  requireAbsolutePath,
  resolvConf,
  validateSysctls,
} from "../spec/mod.ts";
import { parseDefaultSysctls, podSysctls } from "../spec/sysctl.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import type { Deps } from "./deps.ts";
import { newId, sandboxName } from "./naming.ts";
import { podPortMappings, validatePortMappings } from "./pod_ports.ts";
import { retriedCreationsOf } from "./retried_creations.ts";
import { nowNs } from "./time.ts";
import type { CallContext } from "./instrument.ts";
import { crashPoint } from "../crash.ts";
import { publishSandboxEvent } from "./container_events.ts";
import { settleAll } from "../settle.ts";

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
  | "events"
  | "containers"
  | "images"
  | "holders"
>;

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
  const id = await retriedCreationsOf(deps.sandboxes).run(
    name,
    () => createSandbox(deps, req, name),
    {
      exists: (id) => deps.sandboxes.has(id),
      signal: ctx?.signal,
      log: deps.log,
      rpc: "RunPodSandbox",
    },
  );
  return { pod_sandbox_id: id };
}

async function createSandbox(
  deps: RunPodSandboxDeps,
  req: cri.RunPodSandboxRequest,
  name: string,
): Promise<string> {
  const config = req.config!;
  const meta = config.metadata!;
  const handler = req.runtime_handler ?? "";
  requireRuntimeHandler(deps.config, handler);

  using _ = await deps.locks.lock(`sandbox-name:${name}`);
  const id = newId();
  await using stack = new AsyncDisposableStack();
  deps.sandboxes.reserveName(name, id);
  // From here until the record is stored, `sandboxes.inCreation(id)`: the sweep spares the ID.
  stack.defer(() => deps.sandboxes.releaseName(name));

  const log = deps.log;
  const linux = config.linux;
  const nsOpts = linux?.security_context?.namespace_options;
  const hostNetwork = nsOpts?.network === "NODE";
  const hostIpc = nsOpts?.ipc === "NODE";
  // Before anything is made: a sysctl of a namespace the pod shares with the node is refused
  // (it would be set on the node: GHSA-w2j5-3rcx-vx7x), as are namespace modes a pod cannot have.
  const nsModes = podNamespaces(nsOpts ?? null);
  const sysctls = podSysctls(
    parseDefaultSysctls(deps.config.defaultSysctls) ?? {}, // checked when the config loaded
    validateSysctls(linux?.sysctls ?? {}, nsModes),
    nsModes,
  );
  validatePortMappings(config.port_mappings);
  if (config.log_directory !== "") {
    requireAbsolutePath(config.log_directory, "config.log_directory");
  }
  if (!hostNetwork && config.hostname !== "" && !isValidHostname(config.hostname)) {
    throw new InvalidArgumentError(
      `Invalid PodSandboxConfig.hostname ${
        JSON.stringify(config.hostname)
      }: expected an RFC 1123 name`,
    );
  }

  const dir = join(deps.config.root, "sandboxes", id);
  const runDir = join(deps.config.runroot, "sandboxes", id);
  const logDirectory = config.log_directory || join(deps.config.podLogDir, id);
  // No hostname asked: the node's, as containerd and CRI-O give (the pod's name may be no
  // valid hostname: longer than the kernel's 64 bytes, or with characters a hostname cannot have).
  const hostname = hostNetwork ? Deno.hostname() : (config.hostname || Deno.hostname());
  const hostnamePath = join(dir, "hostname");
  const resolvPath = join(dir, "resolv.conf");
  const hostsPath = join(dir, "hosts");
  const shmPath = hostIpc ? undefined : join(runDir, "shm");
  const createdAt = nowNs();
  const cgroupParent = linux?.cgroup_parent ?? "";
  const podRef = {
    id,
    podName: meta.name,
    podNamespace: meta.namespace,
    podUid: meta.uid,
  };

  const holder = deps.holders.choose(config);

  // Independent branches at once, each registering the undo of what it made as soon as it is
  // made (so a failure in one undoes what the others made too):
  // - the persistent sandbox dir (the bundle and the files);
  // - the network namespace (a namespace that outlives any infra process), then CNI wires it;
  // - the volatile run dir and the pod's /dev/shm in it;
  // - the log dir;
  // - the files the infra and every container of the pod share;
  // and the holder, once the namespace and the files it uses exist. CNI wires the namespace
  // while the holder makes its namespaces (or infra container): the spec needs only the netns
  // path, and the hosts file (bind-mounted by path) is rewritten in place once the IPs are
  // known.
  const dirMade = (async () => {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    stack.defer(() => Deno.remove(dir, { recursive: true }).catch(() => {}));
  })();
  const netnsMade = hostNetwork ? Promise.resolve(undefined) : (async () => {
    const path = await deps.netns.create(id);
    stack.defer(() => deps.netns.remove(path));
    crashPoint("sandbox_run:after_netns");
    return path;
  })();
  const wired = (async () => {
    const netnsPath = await netnsMade;
    if (netnsPath === undefined) return undefined;
    const portMappings = podPortMappings(config);
    const network = await deps.network.setUp({ ...podRef, netnsPath, portMappings });
    stack.defer(() => deps.network.tearDown({ ...podRef, netnsPath, portMappings }));
    crashPoint("sandbox_run:after_cni");
    return network;
  })();
  const shmMade = (async () => {
    await Deno.mkdir(runDir, { recursive: true, mode: 0o700 });
    stack.defer(() => Deno.remove(runDir, { recursive: true }).catch(() => {}));
    crashPoint("sandbox_run:after_dirs");
    if (shmPath === undefined) return;
    await mountShm(deps.runner, shmPath);
    stack.defer(() => unmount(deps.runner, shmPath));
    crashPoint("sandbox_run:after_shm");
  })();
  const logDirMade = (async () => {
    // The kubelet makes the log dir before the call: then one stat is all (a file in its place
    // still fails in the mkdir).
    const st = await Deno.stat(logDirectory).catch(() => undefined);
    if (st?.isDirectory) return;
    await Deno.mkdir(logDirectory, { recursive: true, mode: 0o755 });
    if (!st) stack.defer(() => Deno.remove(logDirectory, { recursive: true }).catch(() => {}));
  })();
  const filesWritten = (async () => {
    const [hostResolv] = await Promise.all([
      Deno.readTextFile("/etc/resolv.conf").catch(() => ""),
      dirMade,
    ]);
    await Promise.all([
      Deno.writeTextFile(hostnamePath, hostname + "\n"),
      Deno.writeTextFile(resolvPath, resolvConf(config.dns_config ?? null, hostResolv)),
      Deno.writeTextFile(hostsPath, hostsFile(hostname)),
    ]);
  })();
  const held = (async () => {
    const [netnsPath] = await Promise.all([
      netnsMade,
      dirMade,
      shmMade,
      logDirMade,
      filesWritten,
    ]);
    const created = await holder.create({
      id,
      name,
      config,
      sysctls,
      bundle: dir,
      hostname,
      hostnamePath,
      resolvPath,
      hostsPath,
      ...(shmPath ? { shmPath } : {}),
      ...(netnsPath ? { netnsPath } : {}),
      cgroupParent,
      logDirectory,
      runtimeHandler: handler,
      stack,
    });
    stack.defer(() => holder.undoCreate(id));
    crashPoint("sandbox_run:after_create");
    return created;
  })();
  // Wait for every branch to settle before failing, so that the undo of all that was made is
  // registered; the first failure in the order of the steps is thrown.
  const [, netnsPath, , , , network, created] = await settleAll([
    dirMade,
    netnsMade,
    shmMade,
    logDirMade,
    filesWritten,
    wired,
    held,
  ]);
  const ips = network?.ips ?? [];
  const networkResult = network?.result;
  if (ips.length > 0) {
    await Deno.writeTextFile(hostsPath, hostsFile(hostname, { ips: ips.map((ip) => ip.address) }));
  }
  await holder.start(id, { ...created, bundle: dir });
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
      holder: holder.kind,
      ...(created.ipcPath ? { ipcPath: created.ipcPath } : {}),
      ...(created.utsPath ? { utsPath: created.utsPath } : {}),
      ...(created.imageId ? { imageId: created.imageId } : {}),
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
  crashPoint("sandbox_run:after_record");
  publishSandboxEvent(deps, "CONTAINER_CREATED_EVENT", record);
  publishSandboxEvent(deps, "CONTAINER_STARTED_EVENT", record);
  log.info("Sandbox is ready", {
    id,
    name,
    ip: ips[0]?.address,
    holder: holder.kind,
    pid: created.pid,
  });
  return id;
}
