/**
 * Fakes shared by the container handler unit tests (no tests here): a recording OCI runtime, a
 * counting Runner, a fake image service over a plain rootfs dir, and real record stores in a
 * temp dir.
 *
 * @module
 */
import { OciHookDirs } from "../../../src/spec/oci_hooks.ts";
import { podHolders } from "../../../src/sandbox/holder.ts";
import { InfraHolder } from "../../../src/sandbox/infra_holder.ts";
import { PinnedHolder } from "../../../src/sandbox/pinned_holder.ts";
import type { PinnedPaths, PinRequest } from "../../../src/sandbox/pinned_namespaces.ts";
import { join } from "node:path";
import type { Buffer } from "node:buffer";
import { defaultConfig } from "../../../src/config/defaults.ts";
import { criMethod } from "../../../src/cri/proto.ts";
import type * as cri from "../../../src/cri/types.ts";
import { NotFoundError } from "../../../src/errors.ts";
import { ExitHub } from "../../../src/exit_hub.ts";
import { ExitCleanup } from "../../../src/exit_cleanup.ts";
import { KeyedMutex } from "../../../src/lock.ts";
import { nullLogger } from "../../../src/log.ts";
import type { Runner } from "../../../src/process.ts";
import type { Deps } from "../../../src/server/deps.ts";
import { createContainerStore, createSandboxStore } from "../../../src/store/mod.ts";
import { newContainerStatus } from "../../../src/store/container.ts";
import { createContainerEventBus } from "../../../src/server/container_events.ts";
import { hostCapabilities } from "../../../src/host/capabilities.ts";
import { ALL_CAPABILITIES } from "../../../src/spec/default.ts";
import type { CgroupSupport } from "../../../src/cgroups/support.ts";
import { PendingStops } from "../../../src/server/pending_stops.ts";

/** Decodes an Init message as the server would receive it (every field present). */
export function decode<T>(rpc: keyof cri.RuntimeServiceRpcs, init: unknown): T {
  const m = criMethod(rpc);
  return m.requestDeserialize(m.requestSerialize(init) as Buffer) as T;
}

/** One recorded call of the fake runtime. */
export interface RuntimeCall {
  verb: string;
  id: string;
  args: unknown[];
}

/** A recording fake of the OCI runtime; set `fail` to make a verb throw. */
export class FakeRuntime {
  calls: RuntimeCall[] = [];
  fail: Record<string, Error> = {};
  execResult = {
    exitCode: 0,
    stdout: new Uint8Array(),
    stderr: new Uint8Array(),
    timedOut: false,
    truncated: false,
  };
  #record(verb: string, id: string, ...args: unknown[]): Promise<void> {
    this.calls.push({ verb, id, args });
    const err = this.fail[verb];
    return err ? Promise.reject(err) : Promise.resolve();
  }
  async create({ ready, ...opts }: { id: string; ready?: Promise<void> }) {
    // As conmon: nothing is created before the bundle is ready.
    await ready;
    await this.#record("create", opts.id, opts);
    return { pid: 4242, conmonPid: 4241, startTime: "777" };
  }
  start(id: string, opts?: unknown) {
    return this.#record("start", id, opts);
  }
  kill(id: string, signal: string, opts?: unknown) {
    return this.#record("kill", id, signal, opts);
  }
  delete(id: string, opts?: unknown) {
    return this.#record("delete", id, opts);
  }
  async state(id: string) {
    await this.#record("state", id);
    return undefined;
  }
  async list() {
    await this.#record("list", "");
    return [];
  }
  updateResources(id: string, resources: unknown) {
    return this.#record("updateResources", id, resources);
  }
  async execSync(id: string, opts: unknown) {
    await this.#record("execSync", id, opts);
    return this.execResult;
  }
  reopenLog(id: string, opts?: unknown) {
    return this.#record("reopenLog", id, opts);
  }
  /** conmon pids {@linkcode conmonAlive} says are gone. */
  deadConmons = new Set<number>();
  conmonAlive(pid: number) {
    this.calls.push({ verb: "conmonAlive", id: "", args: [pid] });
    return !this.deadConmons.has(pid);
  }
  verbs(): string[] {
    return this.calls.map((c) => c.verb);
  }
}

/** A Runner that counts (and refuses) every program it is asked to run. */
export class CountingRunner implements Runner {
  runs: string[] = [];
  run(cmd: string, args: string[]): Promise<never> {
    this.runs.push([cmd, ...args].join(" "));
    return Promise.reject(new Error(`unexpected run of ${cmd}`));
  }
}

/** A fake image service: one image, rootfs = a plain directory per container. */
export class FakeImages {
  mounted = new Set<string>();
  removed: string[] = [];
  constructor(
    readonly dir: string,
    readonly image = {
      id: "sha256:" + "ab".repeat(32),
      repoTags: ["127.0.0.1:5000/busybox:latest"],
      repoDigests: ["127.0.0.1:5000/busybox@sha256:" + "cd".repeat(32)],
      config: { Cmd: ["/bin/sh"], Env: ["PATH=/bin"], User: "", StopSignal: "SIGQUIT" },
    },
  ) {}
  status(ref: string) {
    return ref === this.image.id || this.image.repoTags.includes(ref) ? this.image : undefined;
  }
  resolve(ref: string) {
    const rec = this.status(ref);
    if (!rec) throw new NotFoundError(`Cannot find image "${ref}"; pull it first`);
    return rec;
  }
  async mountRootfs(id: string): Promise<string> {
    const rootfs = join(this.dir, "containers", id, "merged");
    await Deno.mkdir(join(rootfs, "etc"), { recursive: true });
    await Deno.writeTextFile(join(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    this.mounted.add(id);
    return rootfs;
  }
  unmountRootfs(id: string): Promise<void> {
    this.mounted.delete(id);
    return Promise.resolve();
  }
  /** Image volumes: a plain dir per mount with `data/f` and `link` -> `/data`. */
  async mountImageVolume(
    id: string,
    index: number,
    ref: string,
  ): Promise<{ path: string; imageId: string }> {
    const imageId = this.resolve(ref).id;
    const path = join(this.dir, "containers", id, "image-volumes", String(index));
    await Deno.mkdir(join(path, "data"), { recursive: true });
    await Deno.writeTextFile(join(path, "data/f"), "in the image");
    await Deno.symlink("/data", join(path, "link")).catch(() => {});
    return { path, imageId };
  }
  async removeRootfs(id: string): Promise<void> {
    this.removed.push(id);
    for (const part of ["merged", "image-volumes"]) {
      await Deno.remove(join(this.dir, "containers", id, part), { recursive: true })
        .catch(() => {});
    }
    await Deno.remove(join(this.dir, "containers", id)).catch(() => {});
  }
}

/** Fake pinned namespaces: records what was pinned, in memory. */
export class FakePins {
  pinned = new Map<string, PinnedPaths>();
  pin(req: PinRequest): Promise<PinnedPaths> {
    const paths: PinnedPaths = {
      ...(req.ipc ? { ipc: `/fake/podns/${req.id}/ipc` } : {}),
      ...(req.uts ? { uts: `/fake/podns/${req.id}/uts` } : {}),
    };
    this.pinned.set(req.id, paths);
    return Promise.resolve(paths);
  }
  unpin(id: string): Promise<void> {
    this.pinned.delete(id);
    return Promise.resolve();
  }
  arePinned(paths: PinnedPaths): Promise<boolean> {
    const all = [...this.pinned.values()].flatMap((p) => Object.values(p));
    return Promise.resolve(Object.values(paths).every((p) => all.includes(p)));
  }
  list(): Promise<string[]> {
    return Promise.resolve([...this.pinned.keys()]);
  }
}

/** Everything a container handler may use, with fakes, in a temp dir. */
export interface TestDeps extends Deps {
  fakeRuntime: FakeRuntime;
  fakeImages: FakeImages;
  countingRunner: CountingRunner;
  dir: string;
}

/** Builds deps over a fresh temp dir; call `Deno.remove(deps.dir, {recursive: true})` after. */
export async function testDeps(): Promise<TestDeps> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-unit-container-" });
  const config = defaultConfig({
    host: { systemdIsInit: () => false, hasCapSysResource: () => false },
  });
  config.root = join(dir, "root");
  config.runroot = join(dir, "run");
  const fakeRuntime = new FakeRuntime();
  const fakeImages = new FakeImages(config.root);
  const countingRunner = new CountingRunner();
  const exits = new ExitHub();
  const cleanups = new ExitCleanup({
    runtime: fakeRuntime,
    images: fakeImages,
    log: nullLogger,
  });
  exits.onForget((id) => cleanups.forget(id));
  const pins = new FakePins();
  const caps = hostCapabilities(ALL_CAPABILITIES);
  const cgroupSupport: CgroupSupport = {
    mode: "v2",
    controllers: ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"],
    hugePageSizes: ["2MB", "1GB"],
    cpuRealtime: false,
    memorySwap: true,
  };
  const holders = podHolders(
    {
      infra: new InfraHolder({
        config,
        log: nullLogger,
        runtime: fakeRuntime as unknown as Deps["runtime"],
        exits,
        cleanups,
        images: fakeImages as unknown as Deps["images"],
        infraRootfs: join(dir, "infra"),
        ownOomScoreAdj: 0,
        hostCapabilities: caps,
        cgroupSupport,
      }),
      pinned: new PinnedHolder(pins),
    },
    pins,
    config.dropInfraCtr,
  );
  return {
    dir,
    fakeRuntime,
    fakeImages,
    countingRunner,
    config,
    log: nullLogger,
    runner: countingRunner,
    locks: new KeyedMutex(),
    runtime: fakeRuntime as unknown as Deps["runtime"],
    network: {} as Deps["network"],
    netns: {} as Deps["netns"],
    sandboxes: createSandboxStore(join(config.root, "sandboxes")),
    containers: createContainerStore(join(config.root, "containers-meta")),
    exits,
    stops: new PendingStops(),
    cleanups,
    images: fakeImages as unknown as Deps["images"],
    events: createContainerEventBus(),
    infraRootfs: join(dir, "infra"),
    holders,
    ownOomScoreAdj: 0,
    hostCapabilities: caps,
    appArmorEnabled: false,
    ociHooks: new OciHookDirs([]),
    cgroupSupport,
    cgroupLayout: { v1: {}, v2: "/sys/fs/cgroup", v2Controllers: cgroupSupport.controllers },
    // The default handler can make rro mounts; tests of a handler without them replace this.
    runtimeFeatures: new Map([[config.runtime.name, {
      recursiveReadOnlyMounts: true,
      runcInternals: false,
    }]]),
  };
}

/**
 * Runs `fn` with fresh {@linkcode testDeps}, closing the event bus and removing the dir after.
 */
export async function withTestDeps(fn: (deps: TestDeps) => Promise<void>): Promise<void> {
  const deps = await testDeps();
  try {
    await fn(deps);
  } finally {
    deps.events.close();
    await Deno.remove(deps.dir, { recursive: true });
  }
}

/** Adds a READY sandbox (with its files) and returns its ID. */
export async function addSandbox(
  deps: TestDeps,
  options: {
    id?: string;
    name?: string;
    ready?: boolean;
    pid?: "POD" | "CONTAINER";
    privileged?: boolean;
    runtimeHandler?: string;
    /** How the pod holds its namespaces. @default "infra" (no `holder` in the record) */
    holder?: "infra" | "pinned";
    /** The pod config's `port_mappings`. @default [] */
    portMappings?: cri.PortMappingInit[];
    /** The infra process is gone (StopPodSandbox releases no holder). @default false */
    infraExited?: boolean;
  } = {},
): Promise<string> {
  const id = options.id ?? crypto.randomUUID().replaceAll("-", "").padEnd(64, "0");
  const name = options.name ?? "pod";
  const bundle = join(deps.config.root, "sandboxes-bundles", id);
  await Deno.mkdir(bundle, { recursive: true });
  for (const f of ["hostname", "resolv.conf", "hosts"]) {
    await Deno.writeTextFile(join(bundle, f), f + "\n");
  }
  const config = decode<cri.RunPodSandboxRequest>("RunPodSandbox", {
    config: {
      metadata: { name, namespace: "ns", uid: `uid-${name}`, attempt: 0 },
      linux: {
        security_context: {
          namespace_options: { network: "POD", pid: options.pid ?? "CONTAINER", ipc: "POD" },
          privileged: options.privileged ?? false,
        },
      },
      port_mappings: options.portMappings ?? [],
    },
  }).config!;
  await deps.sandboxes.add({
    id,
    name: `k8s_${name}_ns_uid-${name}_0`,
    metadata: {
      config,
      createdAt: "1",
      runtimeHandler: options.runtimeHandler ?? "",
      netnsPath: `/run/netns/test-${id.slice(0, 8)}`,
      shmPath: join(deps.config.runroot, "sandboxes", id, "shm"),
      logDirectory: join(deps.dir, "logs", id),
      bundle,
      runDir: join(deps.config.runroot, "sandboxes", id),
      cgroupParent: "/ocid-unit",
      hostname: name,
      ...(options.holder ? { holder: options.holder } : {}),
    },
    status: {
      state: options.ready === false ? "SANDBOX_NOTREADY" : "SANDBOX_READY",
      // A pod with pinned namespaces has no infra process.
      pid: options.holder === "pinned" ? 0 : 777,
      conmonPid: options.holder === "pinned" ? 0 : 776,
      ips: ["10.234.4.9"],
      ...(options.infraExited ? { infraExited: true } : {}),
    },
  });
  return id;
}

/** Adds a container record directly (no create), for list/status tests. */
export async function addContainerRecord(
  deps: TestDeps,
  options: {
    id: string;
    sandboxId: string;
    name: string;
    labels?: Record<string, string>;
    state?: "CONTAINER_CREATED" | "CONTAINER_RUNNING" | "CONTAINER_EXITED";
    /** The config's `linux` as a request would send it. */
    linux?: Record<string, unknown>;
    /** @default 0 (none) */
    conmonPid?: number;
  },
): Promise<void> {
  const config = decode<cri.CreateContainerRequest>("CreateContainer", {
    config: {
      metadata: { name: options.name, attempt: 0 },
      image: { image: "127.0.0.1:5000/busybox:latest" },
      labels: options.labels ?? {},
      ...(options.linux ? { linux: options.linux } : {}),
    },
  }).config!;
  await deps.containers.add({
    id: options.id,
    name: `k8s_${options.name}_pod_ns_uid_0`,
    metadata: {
      sandboxId: options.sandboxId,
      config,
      imageRef: "127.0.0.1:5000/busybox:latest",
      imageId: deps.fakeImages.image.id,
      logPath: join(deps.dir, "logs", `${options.name}.log`),
      bundle: join(deps.config.root, "containers", options.id, "bundle"),
      createdAt: "2",
    },
    status: newContainerStatus({
      state: options.state ?? "CONTAINER_CREATED",
      pid: 1,
      conmonPid: options.conmonPid ?? 0,
    }),
  });
}
