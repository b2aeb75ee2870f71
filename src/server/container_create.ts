/**
 * CreateContainer: inside a ready sandbox, reserve the container's name, mount its rootfs over
 * the image's layers and its image volumes (`Mount.image`: other images, read-only), resolve its
 * user, build its OCI spec (process, mounts, devices, the pod's namespaces and files, resources,
 * security context), create it through conmon and record it as CREATED. conmon is spawned as
 * soon as the bundle dir exists and waits on its start pipe until config.json and the rootfs
 * are in place, so its start-up overlaps their making. Every step registers its undo; a failure
 * anywhere runs them in reverse and leaves nothing behind. A request whose client gave up, and
 * its retry, get one container (`retried_creations.ts`, as RunPodSandbox).
 *
 * @module
 */
import { dirname, join, normalize } from "node:path";
import type * as cri from "../cri/types.ts";
import { crashPoint } from "../crash.ts";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../errors.ts";
import { clampOomScoreAdj } from "../oci/oom.ts";
import { type MountEntry, parseMountinfo, propagationProblem } from "../host/mountinfo.ts";
import {
  type AccountFiles,
  buildContainerSpec,
  checkRecursiveReadOnlyMount,
  emptyContainerSecurityContext,
  type ImageConfig,
  resolveContainerUser,
  type SandboxNamespacePaths,
  STOP_SIGNAL,
} from "../spec/mod.ts";
import { writeFileAtomic } from "../store/atomic.ts";
import { type ContainerRecord, newContainerStatus } from "../store/container.ts";
import { assertSandboxReady, type SandboxRecord } from "../store/sandbox.ts";
import type { Deps } from "./deps.ts";
import { containerName, newId } from "./naming.ts";
import { retriedCreationsOf } from "./retried_creations.ts";
import { nowNs } from "./time.ts";
import { publishContainerEvent } from "./container_events.ts";
import { enforceableResources } from "./cgroup_fit.ts";
import { findRuntimeHandler } from "../config/runtime_handlers.ts";
import { checkImageSubPath, resolveInRoot } from "../image/image_volume.ts";
import { handlerFeatures } from "../oci/runtime_features.ts";
import { requestedCdiDevices } from "../cdi/names.ts";
import { type CdiContainerEdits, loadCdiRegistry, resolveCdiDevices } from "../cdi/registry.ts";
import { applyCdiEdits, completeDeviceNodes } from "../cdi/edits.ts";
import { parseUlimits } from "../spec/ulimits.ts";
import { applyOciHooks } from "../spec/oci_hooks.ts";
import { isStrings } from "../json_shape.ts";
import { exists } from "../exists.ts";
import { declaredVolumes, makeVolumeBind, makeVolumeDir } from "../image/declared_volumes.ts";

/** What CreateContainer uses. */
export type CreateContainerDeps = Pick<
  Deps,
  | "config"
  | "log"
  | "locks"
  | "runtime"
  | "sandboxes"
  | "containers"
  | "images"
  | "ownOomScoreAdj"
  | "events"
  | "hostCapabilities"
  | "appArmorEnabled"
  | "runtimeDefaultSeccomp"
  | "ociHooks"
  | "cgroupSupport"
  | "runtimeFeatures"
  | "holders"
>;

/** Creates a container; see the module doc. */
export async function createContainer(
  deps: CreateContainerDeps,
  req: cri.CreateContainerRequest,
  ctx?: { signal?: AbortSignal },
): Promise<cri.CreateContainerResponseInit> {
  const config = req.config;
  if (!config || !config.metadata || !config.metadata.name) {
    throw new InvalidArgumentError("Missing config.metadata.name in CreateContainerRequest");
  }
  if (!config.image || !config.image.image) {
    throw new InvalidArgumentError("Missing config.image.image in CreateContainerRequest");
  }
  if (!req.pod_sandbox_id) throw new InvalidArgumentError("Missing pod_sandbox_id");
  const found = deps.sandboxes.get(req.pod_sandbox_id);
  const podMeta = found.metadata.config.metadata;
  if (!podMeta) throw new FailedPreconditionError(`Pod sandbox "${found.id}" has no metadata`);
  const name = containerName(config.metadata, podMeta);
  const id = await retriedCreationsOf(deps.containers).run(
    name,
    () => create(deps, req, found.id, name),
    {
      exists: (id) => deps.containers.has(id),
      signal: ctx?.signal,
      log: deps.log,
      rpc: "CreateContainer",
    },
  );
  return { container_id: id };
}

/** Creates container `name` in sandbox `sandboxId`; returns its ID. */
async function create(
  deps: CreateContainerDeps,
  req: cri.CreateContainerRequest,
  sandboxId: string,
  name: string,
): Promise<string> {
  const config = req.config!;
  using _ = await deps.locks.lock(`sandbox:${sandboxId}`);
  // The sandbox may have been stopped or removed while we waited for its lock.
  const sandbox = deps.sandboxes.get(sandboxId);
  assertSandboxReady(sandbox);
  const podMeta = sandbox.metadata.config.metadata!;
  const image = deps.images.resolve(config.image!.image);
  const logPath = containerLogPath(sandbox.metadata.logDirectory, config.log_path, config);
  const missingSources = await missingMountSources(
    config.mounts,
    deps.config.absentMountSourcesToReject,
  );
  const volumes = imageVolumeRequests(deps, config.mounts);
  checkRecursiveReadOnly(deps, config.mounts, sandbox.metadata.runtimeHandler);
  const cdiEdits = await cdiDeviceEdits(deps, config);

  const started = performance.now();
  const id = newId();
  await using stack = new AsyncDisposableStack();
  deps.containers.reserveName(name, id);
  stack.defer(() => deps.containers.releaseName(name));
  for (const path of missingSources) stack.defer(await makeHostDir(path));
  await checkMountPropagation(config.mounts);

  const bundle = containerBundle(deps.config.root, id);
  await Deno.mkdir(bundle, { recursive: true, mode: 0o700 });
  stack.defer(async () => {
    await deps.images.removeRootfs(id).catch((err) =>
      deps.log.warn("Cannot remove rootfs", { id, err })
    );
    await Deno.remove(join(deps.config.root, "containers", id), { recursive: true })
      .catch(() => {});
  });
  crashPoint("container_create:after_dirs");
  const logDir = dirname(logPath);
  if (!(await Deno.stat(logDir).then(() => true, () => false))) {
    await Deno.mkdir(logDir, { recursive: true, mode: 0o755 });
    if (logDir !== sandbox.metadata.logDirectory) {
      stack.defer(() => Deno.remove(logDir, { recursive: true }).catch(() => {}));
    }
  }
  // conmon starts now and waits (on its start pipe) until the bundle is complete: its start-up
  // overlaps the rootfs mount and the spec. Until then nothing is created; a failure meanwhile
  // kills it.
  const bundleReady = Promise.withResolvers<void>();
  bundleReady.promise.catch(() => {}); // rejected only by the undo below, whoever listens
  const createdAt = nowNs();
  const creating = deps.runtime.create({
    id,
    bundle,
    persistDir: bundle,
    logPath,
    name,
    terminal: config.tty,
    stdin: config.stdin,
    stdinOnce: config.stdin_once,
    runtimeHandler: sandbox.metadata.runtimeHandler,
    ready: bundleReady.promise,
  });
  creating.catch(() => {}); // awaited below, or by the undo
  stack.defer(async () => {
    bundleReady.reject(new Error("CreateContainer failed before the bundle was complete"));
    await creating.catch(() => {});
  });
  const rootfs = await deps.images.mountRootfs(id, image.id);
  stack.defer(() => deps.images.unmountRootfs(id));
  // The image volumes go with the rootfs (removeRootfs, deferred above).
  const mounts = await mountImageVolumes(deps, id, config.mounts, volumes);
  crashPoint("container_create:after_rootfs");

  const imageConfig = toImageConfig(image.config);
  const sc = config.linux?.security_context ?? null;
  const user = resolveContainerUser(sc, {
    imageUser: imageConfig.User ?? "",
    files: await accountFiles(rootfs),
  });

  // The image's own VOLUMEs (image_volumes); what is made goes with the rootfs or the dir.
  const declared = deps.config.image.imageVolumes === "ignore"
    ? []
    : declaredVolumes(image.config, config.mounts);
  for (const [i, path] of declared.entries()) {
    if (deps.config.image.imageVolumes === "mkdir") await makeVolumeDir(rootfs, path, user);
    else mounts.push(await makeVolumeBind(join(deps.config.root, "containers", id), i, path, user));
  }

  const requestedOom = oomScoreAdj(config.linux?.resources ?? null);
  const effective = withPodNamespaceOptions(config, sandbox);
  const handler = findRuntimeHandler(deps.config, sandbox.metadata.runtimeHandler)?.handler;
  const spec = buildContainerSpec({ ...effective, mounts }, {
    id,
    sandbox: {
      id: sandbox.id,
      name: podMeta.name,
      namespace: podMeta.namespace,
      uid: podMeta.uid,
    },
    rootfs,
    image: imageConfig,
    user,
    namespaces: namespacePaths(deps, sandbox, effective),
    ...(sandbox.metadata.hostname ? { hostname: sandbox.metadata.hostname } : {}),
    hostnamePath: join(sandbox.metadata.bundle, "hostname"),
    resolvPath: join(sandbox.metadata.bundle, "resolv.conf"),
    hostsPath: join(sandbox.metadata.bundle, "hosts"),
    ...(sandbox.metadata.shmPath ? { shmPath: sandbox.metadata.shmPath } : {}),
    cgroupParent: sandbox.metadata.cgroupParent,
    cgroupManager: deps.config.cgroupManager,
    ...(requestedOom === undefined ? {} : {
      oomScoreAdj: clampOomScoreAdj(
        requestedOom,
        deps.ownOomScoreAdj,
        deps.config.restrictOomScoreAdj,
      ),
    }),
    sandboxPrivileged: sandbox.metadata.config.linux?.security_context?.privileged ?? false,
    hostCapabilities: deps.hostCapabilities.bounding,
    appArmorEnabled: deps.appArmorEnabled,
    ...(deps.runtimeDefaultSeccomp ? { runtimeDefaultSeccomp: deps.runtimeDefaultSeccomp } : {}),
    // Both checked (and the capabilities normalized) when the configuration was loaded.
    defaultCapabilities: deps.config.defaultCapabilities,
    defaultEnv: deps.config.defaultEnv,
    deviceOwnershipFromSecurityContext: deps.config.deviceOwnershipFromSecurityContext,
    readOnly: deps.config.readOnly,
    rlimits: parseUlimits(deps.config.defaultUlimits) ?? [],
    allowedAnnotations: handler?.allowedAnnotations ?? [],
    // A handler for VM runtimes (kata) must not be handed the host's devices.
    ...(handler?.privilegedWithoutHostDevices ? { listHostDevices: () => [] } : {}),
    onDroppedAnnotations: (keys) =>
      deps.log.warn("Dropped container annotations a runtime or ocid acts on", { id, keys }),
  });
  applyCdiEdits(spec, cdiEdits);
  const hooked = applyOciHooks(
    { spec, hasBindMounts: config.mounts.some((m) => m.host_path !== "") },
    await deps.ociHooks.current(),
  );
  if (hooked.length > 0) deps.log.info("OCI hooks added", { id, files: hooked.join(",") });
  if (spec.linux?.resources) {
    spec.linux.resources = enforceableResources(deps, spec.linux.resources, {
      container: id,
      name,
    });
  }
  // Read at once by the runtime; after a reboot the container is gone and its readers (status,
  // stats) tolerate a missing spec: no fsync (two of them cost about 1.3 ms here).
  await writeFileAtomic(join(bundle, "config.json"), JSON.stringify(spec, null, 2), {
    sync: "none",
  });
  crashPoint("container_create:after_spec");

  bundleReady.resolve();
  const created = await creating;
  stack.defer(async () => {
    await deps.runtime.kill(id, "KILL").catch(() => {});
    await deps.runtime.delete(id, { force: true });
    // conmon's attach-socket link and exit file (as RemoveContainer removes them).
    for (const dir of ["socket", "exits"]) {
      await Deno.remove(join(deps.config.runroot, dir, id)).catch(() => {});
    }
  });
  crashPoint("container_create:after_create");

  const record: ContainerRecord = {
    id,
    name,
    metadata: {
      sandboxId: sandbox.id,
      config: withImageRefs(config, volumes),
      imageRef: config.image!.image,
      imageId: image.id,
      ...(volumes.length > 0
        ? { volumeImageIds: [...new Set(volumes.map((v) => v.imageId))] }
        : {}),
      logPath,
      bundle,
      ownPidNamespace: effective.linux?.security_context?.namespace_options?.pid === "CONTAINER",
      createdAt,
      stopSignal: spec.annotations?.[STOP_SIGNAL] ?? "",
      // The spec's groups: CDI devices may have added theirs.
      user: {
        uid: user.uid,
        gid: user.gid,
        additionalGids: spec.process?.user.additionalGids ?? user.additionalGids,
      },
    },
    status: newContainerStatus({
      pid: created.pid,
      conmonPid: created.conmonPid,
      ...(created.startTime !== undefined ? { pidStartTime: created.startTime } : {}),
    }),
  };
  await deps.containers.add(record);
  stack.move();
  crashPoint("container_create:after_record");
  publishContainerEvent(deps, "CONTAINER_CREATED_EVENT", { id, sandboxId: sandbox.id });
  deps.log.info("Container created", {
    id,
    name,
    pid: created.pid,
    ms: (performance.now() - started).toFixed(1),
  });
  return id;
}

/**
 * The edits of the CDI devices the container asks for (`CDI_devices` and `cdi.k8s.io/`
 * annotations), resolved in the node's spec files and with their device nodes read from the
 * host, before anything is made. None asked for: nothing is read.
 *
 * @throws {InvalidArgumentError} for a name that is not `vendor.com/class=name`
 * @throws {NotFoundError} for a device no spec file defines
 * @throws {FailedPreconditionError} when CDI is turned off, a device is defined twice, or a
 *   device node is missing on the host
 */
async function cdiDeviceEdits(
  deps: Pick<Deps, "config">,
  config: cri.ContainerConfig,
): Promise<CdiContainerEdits[]> {
  const names = requestedCdiDevices(config);
  if (names.length === 0) return [];
  if (!deps.config.enableCdi) {
    throw new FailedPreconditionError(
      `Cannot give the container CDI devices ${names.join(", ")}: CDI is turned off ` +
        `(enable_cdi = false)`,
    );
  }
  const registry = await loadCdiRegistry(deps.config.cdiSpecDirs);
  return await completeDeviceNodes(resolveCdiDevices(registry, names));
}

/**
 * A container's bundle (config.json, conmon's files): `<root>/containers/<id>/bundle`, beside the
 * rootfs the image service keeps in `<root>/containers/<id>/`.
 */
export function containerBundle(root: string, id: string): string {
  return join(root, "containers", id, "bundle");
}

/**
 * The container's log file: `log_path` relative to the pod's log directory (`<id>.log` when the
 * request names none).
 *
 * @throws {InvalidArgumentError} when `log_path` is absolute or leaves the log directory
 */
export function containerLogPath(
  logDirectory: string,
  logPath: string,
  config: { metadata: { name: string; attempt: number } | null },
): string {
  const rel = logPath ||
    `${config.metadata?.name ?? "container"}_${config.metadata?.attempt ?? 0}.log`;
  const clean = normalize(rel);
  if (rel.startsWith("/") || clean.startsWith("..") || rel.includes("\0")) {
    throw new InvalidArgumentError(
      `Invalid log_path ${JSON.stringify(logPath)}: it must be relative to the pod's log directory`,
    );
  }
  return join(logDirectory, clean);
}

/**
 * A recursively read-only mount must be read-only and private (INVALID_ARGUMENT otherwise), and
 * needs a runtime that knows `rro` and a kernel with `mount_setattr(2)`: asked of the pod's
 * handler at start (Status reports the same), and refused here rather than handed to a runtime
 * that would fail on it or ignore it.
 *
 * @throws {InvalidArgumentError} naming the mount
 * @throws {FailedPreconditionError} naming the mount and the handler
 */
function checkRecursiveReadOnly(
  deps: Pick<Deps, "config" | "runtimeFeatures">,
  mounts: readonly cri.Mount[],
  runtimeHandler: string,
): void {
  for (const [i, m] of mounts.entries()) checkRecursiveReadOnlyMount(m, `mounts[${i}]`);
  const i = mounts.findIndex((m) => m.recursive_read_only);
  if (i < 0 || handlerFeatures(deps, runtimeHandler).recursiveReadOnlyMounts) return;
  const name = runtimeHandler || deps.config.defaultRuntime;
  throw new FailedPreconditionError(
    `mounts[${i}].recursive_read_only: runtime handler "${name}" cannot make mounts recursively ` +
      `read-only (its runtime does not list "rro" in its features, or the kernel is older than ` +
      `5.12); Status reports recursive_read_only_mounts false for it`,
  );
}

/** An image volume of the request: its place in `mounts`, its image, its sub path. */
interface ImageVolumeRequest {
  index: number;
  imageId: string;
  subPath: string;
}

/**
 * The request's image volumes (`Mount.image`), checked before anything is made: the image is
 * pulled (kubelet pulls it first and names it by PullImage's `image_ref`), `host_path` is empty
 * (the two exclude each other), and the sub path is relative.
 *
 * @throws {NotFoundError} naming an image that is not pulled
 * @throws {InvalidArgumentError} for a mount with both a host path and an image, a bad sub
 *   path, or a sub path without an image
 */
function imageVolumeRequests(
  deps: Pick<Deps, "images">,
  mounts: readonly cri.Mount[],
): ImageVolumeRequest[] {
  const out: ImageVolumeRequest[] = [];
  for (const [i, m] of mounts.entries()) {
    const field = `mounts[${i}]`;
    const ref = m.image?.image ?? "";
    if (ref === "") {
      if (m.image_sub_path !== "") {
        throw new InvalidArgumentError(`${field}.image_sub_path is set without ${field}.image`);
      }
      continue;
    }
    if (m.host_path !== "") {
      throw new InvalidArgumentError(
        `${field} names both a host_path and an image: set one of them`,
      );
    }
    checkImageSubPath(m.image_sub_path, `${field}.image_sub_path`);
    out.push({ index: i, imageId: deps.images.resolve(ref).id, subPath: m.image_sub_path });
  }
  return out;
}

/**
 * The request as recorded: each image volume's `image.image_ref` names the image mounted (its
 * ID), which ContainerStatus reports in `mounts` (critest's "should return image digest in
 * ContainerStatus mounts"; the kubelet shows it in the pod's volume status).
 */
function withImageRefs(
  config: cri.ContainerConfig,
  volumes: readonly ImageVolumeRequest[],
): cri.ContainerConfig {
  if (volumes.length === 0) return config;
  const mounts = [...config.mounts];
  for (const v of volumes) {
    const m = mounts[v.index]!;
    mounts[v.index] = { ...m, image: { ...m.image!, image_ref: v.imageId } };
  }
  return { ...config, mounts };
}

/**
 * Mounts each image volume read-only under the container's dir and finds its sub path inside
 * it; returns the mounts with those volumes as read-only binds of that path.
 *
 * @throws {InvalidArgumentError} when a sub path is not in its image
 */
async function mountImageVolumes(
  deps: Pick<Deps, "images">,
  id: string,
  mounts: readonly cri.Mount[],
  volumes: readonly ImageVolumeRequest[],
): Promise<cri.Mount[]> {
  const out = [...mounts];
  for (const v of volumes) {
    const { path } = await deps.images.mountImageVolume(id, v.index, v.imageId);
    out[v.index] = {
      ...mounts[v.index]!,
      host_path: await resolveInRoot(path, v.subPath),
      image: null,
      image_sub_path: "",
      readonly: true,
    };
  }
  return out;
}

/**
 * The `host_path`s of the request's bind mounts that do not exist: CreateContainer makes them as
 * directories, as containerd and CRI-O do (a kubelet `hostPath` volume of type "" names a path
 * that may not exist yet), unless the node lists them in `absent_mount_sources_to_reject`.
 * Reads only.
 *
 * @throws {InvalidArgumentError} when a missing path is one the node rejects
 */
async function missingMountSources(
  mounts: readonly cri.Mount[],
  reject: readonly string[],
): Promise<string[]> {
  const rejected = new Set(reject.map(cleanPath));
  const missing: string[] = [];
  for (const [i, m] of mounts.entries()) {
    if (!m.host_path.startsWith("/")) continue; // buildContainerSpec names the error
    try {
      await Deno.stat(m.host_path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      if (rejected.has(cleanPath(m.host_path))) {
        throw new InvalidArgumentError(
          `Cannot find host_path "${m.host_path}" of mounts[${i}] (container_path ` +
            `"${m.container_path}"), and the node does not make it ` +
            `(absent_mount_sources_to_reject)`,
        );
      }
      missing.push(m.host_path);
    }
  }
  return missing;
}

/** `path` without `.`/`..` steps and a trailing slash. */
function cleanPath(path: string): string {
  const clean = normalize(path);
  return clean.length > 1 && clean.endsWith("/") ? clean.slice(0, -1) : clean;
}

/**
 * Makes the directory `path` and its missing parents (mode 0755 under the daemon's umask).
 *
 * @returns The undo: removes what it made, deepest first, while each is empty.
 * @throws {FailedPreconditionError} when a part of the path cannot be made
 */
async function makeHostDir(path: string): Promise<() => Promise<void>> {
  const absent: string[] = [];
  for (let p = cleanPath(path); !(await exists(p)); p = dirname(p)) absent.unshift(p);
  const made: string[] = [];
  const undo = async () => {
    for (const dir of made.toReversed()) {
      if (!(await Deno.remove(dir).then(() => true, () => false))) return;
    }
  };
  try {
    for (const dir of absent) {
      try {
        await Deno.mkdir(dir, { mode: 0o755 });
        made.push(dir);
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      }
    }
    await Deno.stat(path); // a dangling symlink on the way is not made into a directory
  } catch (err) {
    await undo();
    throw new FailedPreconditionError(
      `Cannot make the missing mount host_path "${path}": ${(err as Error).message}`,
      { cause: err },
    );
  }
  return undo;
}

/**
 * Checks that the host side of each mount with mount propagation propagates that way (a mount
 * that is not shared cannot give its events to a container).
 *
 * @throws {FailedPreconditionError} naming the mount and the `mount --make-rshared` to run
 */
async function checkMountPropagation(mounts: readonly cri.Mount[]): Promise<void> {
  let hostMounts: MountEntry[] | undefined;
  for (const [i, m] of mounts.entries()) {
    if (!m.host_path.startsWith("/")) continue;
    const want = m.propagation === "PROPAGATION_BIDIRECTIONAL"
      ? "rshared"
      : m.propagation === "PROPAGATION_HOST_TO_CONTAINER"
      ? "rslave"
      : undefined;
    if (want === undefined) continue;
    hostMounts ??= parseMountinfo(await Deno.readTextFile("/proc/self/mountinfo"));
    const problem = propagationProblem(await Deno.realPath(m.host_path), want, hostMounts);
    if (problem !== undefined) {
      throw new FailedPreconditionError(
        `Cannot use mounts[${i}] with ${m.propagation}: ${problem} (make it shared on the ` +
          `host, e.g. "mount --make-rshared <mount point>")`,
      );
    }
  }
}

/** The requested oom_score_adj, checked; undefined when no resources are given. */
function oomScoreAdj(res: cri.LinuxContainerResources | null): number | undefined {
  if (!res) return undefined;
  const n = Number(res.oom_score_adj);
  if (!/^-?\d+$/.test(String(res.oom_score_adj)) || n < -1000 || n > 1000) {
    throw new InvalidArgumentError(
      `linux.resources.oom_score_adj must be an integer between -1000 and 1000, got ` +
        `${JSON.stringify(res.oom_score_adj)}`,
    );
  }
  return n;
}

/** The runtime part of a stored image config, as the spec builder reads it. */
function toImageConfig(c: Record<string, unknown>): ImageConfig {
  const strings = (v: unknown) => (isStrings(v) ? v : undefined);
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const out: ImageConfig = {};
  const entrypoint = strings(c["Entrypoint"]);
  const cmd = strings(c["Cmd"]);
  const env = strings(c["Env"]);
  const workingDir = str(c["WorkingDir"]);
  const user = str(c["User"]);
  const stopSignal = str(c["StopSignal"]);
  if (entrypoint) out.Entrypoint = entrypoint;
  if (cmd) out.Cmd = cmd;
  if (env) out.Env = env;
  if (workingDir) out.WorkingDir = workingDir;
  if (user) out.User = user;
  if (stopSignal) out.StopSignal = stopSignal;
  return out;
}

/** The rootfs's /etc/passwd and /etc/group; "" for a file that is absent or not regular. */
async function accountFiles(rootfs: string): Promise<AccountFiles> {
  const read = async (rel: string) => {
    const path = join(rootfs, rel);
    try {
      // A symlink could point at the host's files: only a regular file counts.
      const st = await Deno.lstat(path);
      if (!st.isFile) return "";
      return await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        return "";
      }
      throw err;
    }
  };
  const [passwd, group] = await Promise.all([read("etc/passwd"), read("etc/group")]);
  return { passwd, group };
}

/**
 * The config with the pod's namespace modes: network and IPC are always the pod's (a container
 * cannot leave them); the PID mode is the container's when given, else derived from the pod's.
 * kubelet always sends the modes; other clients (crictl) often do not.
 */
function withPodNamespaceOptions(
  config: cri.ContainerConfig,
  sandbox: SandboxRecord,
): cri.ContainerConfig {
  const sc = config.linux?.security_context ?? null;
  const own = sc?.namespace_options ?? null;
  const pod = sandbox.metadata.config.linux?.security_context?.namespace_options ?? null;
  const options: cri.NamespaceOption = {
    network: pod?.network === "NODE" ? "NODE" : "POD",
    // A pod without a pod-level PID namespace gives each container its own.
    pid: own?.pid ?? (pod?.pid === "POD" || pod?.pid === "NODE" ? pod.pid : "CONTAINER"),
    ipc: pod?.ipc === "NODE" ? "NODE" : "POD",
    target_id: own?.target_id ?? "",
    userns_options: own?.userns_options ?? null,
  };
  const baseSc: cri.LinuxContainerSecurityContext = sc ?? emptyContainerSecurityContext();
  return {
    ...config,
    linux: {
      resources: config.linux?.resources ?? null,
      security_context: { ...baseSc, namespace_options: options },
    },
  };
}

/** Paths of the sandbox's namespaces from its holder (and a TARGET container's PID namespace). */
function namespacePaths(
  deps: Pick<Deps, "containers" | "holders">,
  sandbox: SandboxRecord,
  config: cri.ContainerConfig,
): SandboxNamespacePaths {
  const paths: SandboxNamespacePaths = { ...deps.holders.of(sandbox).namespacePaths(sandbox) };
  if (config.linux?.security_context?.namespace_options?.pid === "POD" && !paths.pid) {
    throw new InvalidArgumentError(
      `Pod sandbox "${sandbox.id}" has no pod PID namespace: it was run without pid POD`,
    );
  }
  if (sandbox.metadata.netnsPath) paths.network = sandbox.metadata.netnsPath;
  const targetId = config.linux?.security_context?.namespace_options?.target_id;
  if (config.linux?.security_context?.namespace_options?.pid === "TARGET") {
    if (!targetId) {
      throw new InvalidArgumentError("namespace_options.pid is TARGET but target_id is empty");
    }
    const target = deps.containers.find(targetId);
    if (!target || target.metadata.sandboxId !== sandbox.id) {
      throw new NotFoundError(`Cannot find target container "${targetId}" in the pod`);
    }
    if (target.status.state !== "CONTAINER_RUNNING" || !target.status.pid) {
      throw new FailedPreconditionError(`Target container "${targetId}" is not running`);
    }
    paths.targetPid = `/proc/${target.status.pid}/ns/pid`;
  }
  return paths;
}
