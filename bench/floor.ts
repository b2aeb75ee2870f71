/**
 * The floor: the same pod lifecycle done directly with runc and the CNI plugins, no
 * daemon and no monitor. It is what a runtime cannot beat without changing the low-level
 * tools. Containers are made with `runc create` + `runc start` on an overlay over a
 * pre-unpacked rootfs; the app container (busybox `sleep`) joins the pod's network, IPC and
 * UTS namespaces. Two pod models ({@linkcode FloorModel}):
 *
 * - `pinned` (default; ocid's default, `drop_infra_ctr`): no pause process. RunPodSandbox
 *   makes the netns, IPC and UTS files and pins all three with one process that also sets
 *   the hostname in the new UTS namespace and brings lo up (busybox's `hostname` and `ip` in
 *   one shell under `unshare --net=F --ipc=F --uts=F`: ocid brings lo up in-process,
 *   `[cni] use_internal_loopback`, so the floor runs no loopback plugin either), then CNI ADD of
 *   bridge + host-local by exec'ing the plugin (no portmap: the bench pods have no host ports,
 *   and ocid skips it for them, `[cni] skip_idle_portmap`). Containers join the namespaces by
 *   those paths. StopPodSandbox kills the containers, then bridge DEL; RemovePodSandbox
 *   unmounts the three files.
 * - `infra` (the older design): a netns file (`unshare --net=<file>`), CNI ADD of loopback,
 *   bridge + host-local and portmap, and a pause container (catatonit); containers join its
 *   IPC and UTS namespaces by `/proc/<pid>/ns`. StopPodSandbox also kills the pause and runs
 *   portmap DEL; RemovePodSandbox unmounts the netns.
 *
 * @module
 */
import { join } from "node:path";
import { denoRunner, text } from "../src/process.ts";
import { benchConflist, type BenchNetwork } from "./_cni.ts";
import { deleteLink, removeTree, tail, waitFor } from "./_proc.ts";
import type { Target } from "./target.ts";

/** How the floor holds a pod's namespaces; see the module doc. */
export type FloorModel = "pinned" | "infra";

/** The floor's pod models, default first. */
export const FLOOR_MODELS: readonly FloorModel[] = ["pinned", "infra"];

/** Options of {@linkcode startFloor}. */
export interface FloorOptions {
  /** @default "pinned" */
  model?: FloorModel;
  /** @default "ocidbf0" */
  bridge?: string;
  /** @default "10.234.10.0/24" */
  subnet?: string;
  /** @default "/usr/sbin/runc" */
  runc?: string;
  /** @default "/usr/lib/cni" */
  cniPluginDir?: string;
}

interface FloorContainer {
  id: string;
  bundle: string;
  pid: number;
}

interface FloorPod {
  id: string;
  dir: string;
  netns: string;
  /** infra: the pause container; pinned: none. */
  pause: FloorContainer | undefined;
  /** pinned: the IPC and UTS namespace files; infra: none. */
  pinned: PinnedPaths | undefined;
  containers: Map<string, FloorContainer>;
  cniResult: Record<string, unknown> | undefined;
  stopped: boolean;
}

interface PinnedPaths {
  ipc: string;
  uts: string;
}

// deno-lint-ignore no-explicit-any
type Spec = Record<string, any>;

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function hexId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

/** Whether a process is gone or a zombie. */
function exited(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return true;
  }
}

/** Removes the (empty) parent cgroup the floor's containers were put in, in every hierarchy. */
async function removeCgroupParents(name: string): Promise<void> {
  const roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"];
  try {
    for await (const e of Deno.readDir("/sys/fs/cgroup")) roots.push(`/sys/fs/cgroup/${e.name}`);
  } catch {
    return;
  }
  for (const r of roots) await Deno.remove(`${r}/${name}`).catch(() => {});
}

/**
 * Builds the floor's container spec from runc's default spec.
 *
 * @param base the output of `runc spec`
 * @param options what differs per container
 * @returns a new spec object
 */
export function floorSpec(
  base: Spec,
  options: {
    args: string[];
    hostname?: string;
    netns: string;
    /** Join the IPC and UTS namespaces of the pause process instead of making new ones. */
    joinPid?: number;
    /** Join these pinned IPC and UTS namespace files instead of making new ones. */
    nsPaths?: PinnedPaths;
    cgroupsPath: string;
  },
): Spec {
  const spec: Spec = structuredClone(base);
  spec.process.terminal = false;
  spec.process.args = options.args;
  spec.process.env = [PATH_ENV];
  spec.root = { path: "rootfs", readonly: false };
  if (options.hostname) spec.hostname = options.hostname;
  else delete spec.hostname;
  const pid = options.joinPid;
  const paths = options.nsPaths ??
    (pid ? { ipc: `/proc/${pid}/ns/ipc`, uts: `/proc/${pid}/ns/uts` } : undefined);
  spec.linux.namespaces = [
    { type: "pid" },
    { type: "mount" },
    { type: "network", path: options.netns },
    paths ? { type: "ipc", path: paths.ipc } : { type: "ipc" },
    paths ? { type: "uts", path: paths.uts } : { type: "uts" },
  ];
  spec.linux.cgroupsPath = options.cgroupsPath;
  return spec;
}

/**
 * Prepares the floor in a new temp dir: runc's default spec, the pause and busybox
 * rootfs, the CNI config.
 *
 * @returns a {@linkcode Target} named "floor", its `model` the pod model
 */
export async function startFloor(options: FloorOptions = {}): Promise<Target> {
  const model = options.model ?? "pinned";
  if (!FLOOR_MODELS.includes(model)) throw new TypeError(`Unknown floor model "${model}"`);
  const dir = await Deno.makeTempDir({ prefix: "ocid-bench-floor-" });
  const runc = options.runc ?? "/usr/sbin/runc";
  const cniDir = options.cniPluginDir ?? "/usr/lib/cni";
  const runcRoot = join(dir, "runc");
  const net: BenchNetwork = {
    name: "ocid-bench-floor",
    bridge: options.bridge ?? "ocidbf0",
    subnet: options.subnet ?? "10.234.10.0/24",
    ipamDataDir: join(dir, "cni-ipam"),
  };
  const conflist = benchConflist(net);
  const [bridgeConf, portmapConf] = conflist.plugins as Record<string, unknown>[];
  const run = (args: string[], opts: { check?: boolean } = {}) =>
    denoRunner.run(runc, ["--root", runcRoot, ...args], { timeoutMs: 60_000, ...opts });

  // Pre-unpacked rootfs: the same files as the registry images.
  const pauseLower = join(dir, "lower-pause");
  const busyboxLower = join(dir, "lower-busybox");
  await Deno.mkdir(pauseLower, { recursive: true });
  await Deno.copyFile("/usr/bin/catatonit", join(pauseLower, "pause"));
  await Deno.chmod(join(pauseLower, "pause"), 0o755);
  await Deno.mkdir(join(busyboxLower, "bin"), { recursive: true });
  await Deno.mkdir(join(busyboxLower, "tmp"), { recursive: true });
  await Deno.copyFile("/usr/bin/busybox", join(busyboxLower, "bin/busybox"));
  await Deno.chmod(join(busyboxLower, "bin/busybox"), 0o755);
  for (
    const applet of text((await denoRunner.run("/usr/bin/busybox", ["--list"])).stdout).split("\n")
  ) {
    if (applet && applet !== "busybox") {
      await Deno.symlink("busybox", join(busyboxLower, "bin", applet));
    }
  }
  const specDir = join(dir, "spec");
  await Deno.mkdir(specDir);
  await denoRunner.run(runc, ["spec", "--bundle", specDir]);
  const baseSpec: Spec = JSON.parse(await Deno.readTextFile(join(specDir, "config.json")));

  const pods = new Map<string, FloorPod>();
  const containerPod = new Map<string, FloorPod>();

  const cni = async (
    command: "ADD" | "DEL",
    pod: FloorPod,
    plugin: Record<string, unknown>,
    ifname: string,
    prevResult?: Record<string, unknown>,
  ) => {
    const conf: Record<string, unknown> = {
      cniVersion: conflist.cniVersion,
      name: net.name,
      ...plugin,
    };
    if (plugin.type === "portmap") conf.runtimeConfig = { portMappings: [] };
    if (prevResult) conf.prevResult = prevResult;
    const res = await denoRunner.run(join(cniDir, String(plugin.type)), [], {
      stdin: JSON.stringify(conf),
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: pod.id,
        CNI_NETNS: pod.netns,
        CNI_IFNAME: ifname,
        CNI_PATH: cniDir,
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      },
    });
    const out = text(res.stdout).trim();
    return out ? JSON.parse(out) as Record<string, unknown> : undefined;
  };

  const createIn = async (
    podDir: string,
    id: string,
    lower: string,
    spec: Spec,
  ): Promise<FloorContainer> => {
    const bundle = join(podDir, id);
    for (const d of ["upper", "work", "rootfs"]) {
      await Deno.mkdir(join(bundle, d), { recursive: true });
    }
    await denoRunner.run("mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=${bundle}/upper,workdir=${bundle}/work`,
      join(bundle, "rootfs"),
    ]);
    await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify(spec));
    // stdio must not be a pipe: the container inherits it and the pipe would never close.
    const log = join(bundle, "runc.log");
    const status = await new Deno.Command(runc, {
      args: [
        "--root",
        runcRoot,
        "--log",
        log,
        "create",
        "--bundle",
        bundle,
        "--pid-file",
        join(bundle, "pid"),
        id,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(60_000),
    }).output();
    if (!status.success) {
      throw new Error(
        `Command "runc create ${id}" failed with exit code ${status.code}: ${tail(log, 5)}`,
      );
    }
    const pid = Number(await Deno.readTextFile(join(bundle, "pid")));
    return { id, bundle, pid };
  };

  const kill = async (c: FloorContainer) => {
    await run(["kill", c.id, "KILL"], { check: false });
    await waitFor(`container ${c.id} to exit`, () => exited(c.pid), { intervalMs: 1 });
  };

  const destroy = async (c: FloorContainer) => {
    await run(["delete", "--force", c.id], { check: false });
    await denoRunner.run("umount", [join(c.bundle, "rootfs")], { check: false });
  };

  const target: Target = {
    name: "floor",
    model,
    daemonPid: undefined,
    images: undefined,
    monitors: () => [],
    async runPodSandbox(name) {
      const id = hexId();
      const podDir = join(dir, "pods", id);
      await Deno.mkdir(podDir, { recursive: true });
      const netns = join(podDir, "netns");
      await Deno.writeFile(netns, new Uint8Array());
      const pod: FloorPod = {
        id,
        dir: podDir,
        netns,
        pause: model === "infra" ? { id, bundle: "", pid: 0 } : undefined,
        pinned: undefined,
        containers: new Map(),
        cniResult: undefined,
        stopped: false,
      };
      pods.set(id, pod);
      if (model === "pinned") {
        const pinned = { ipc: join(podDir, "ipc"), uts: join(podDir, "uts") };
        await Deno.writeFile(pinned.ipc, new Uint8Array());
        await Deno.writeFile(pinned.uts, new Uint8Array());
        pod.pinned = pinned;
        await denoRunner.run("unshare", [
          `--net=${netns}`,
          `--ipc=${pinned.ipc}`,
          `--uts=${pinned.uts}`,
          "busybox",
          "sh",
          "-c",
          'hostname "$1" && ip link set lo up',
          "sh",
          name,
        ]);
        pod.cniResult = await cni("ADD", pod, bridgeConf!, "eth0");
        return id;
      }
      await denoRunner.run("unshare", [`--net=${netns}`, "true"]);
      await cni("ADD", pod, { type: "loopback" }, "lo");
      pod.cniResult = await cni("ADD", pod, bridgeConf!, "eth0");
      pod.cniResult = await cni("ADD", pod, portmapConf!, "eth0", pod.cniResult) ?? pod.cniResult;
      const spec = floorSpec(baseSpec, {
        args: ["/pause", "-P"],
        hostname: name,
        netns,
        cgroupsPath: `/ocid-bench-floor/${id}`,
      });
      pod.pause = await createIn(podDir, id, pauseLower, spec);
      await run(["start", id]);
      return id;
    },
    async createContainer(podId, _name) {
      const pod = pods.get(podId);
      if (!pod) throw new Error(`Cannot find floor pod "${podId}"`);
      const id = hexId();
      const spec = floorSpec(baseSpec, {
        args: ["sleep", "3600"],
        netns: pod.netns,
        ...(pod.pinned ? { nsPaths: pod.pinned } : { joinPid: pod.pause?.pid ?? 0 }),
        cgroupsPath: `/ocid-bench-floor/${id}`,
      });
      const c = await createIn(pod.dir, id, busyboxLower, spec);
      pod.containers.set(id, c);
      containerPod.set(id, pod);
      return id;
    },
    async startContainer(id) {
      await run(["start", id]);
    },
    async containerStatus(id) {
      JSON.parse(text((await run(["state", id])).stdout));
    },
    async listContainers() {
      const out = text((await run(["list", "--format", "json"])).stdout).trim();
      const list = out && out !== "null" ? JSON.parse(out) as unknown[] : [];
      return list.length;
    },
    async execSync(id, cmd) {
      await run(["exec", id, ...cmd]);
    },
    async stopContainer(id) {
      const c = containerPod.get(id)?.containers.get(id);
      if (!c) throw new Error(`Cannot find floor container "${id}"`);
      await kill(c);
    },
    async stopPodSandbox(podId) {
      const pod = pods.get(podId);
      if (!pod) throw new Error(`Cannot find floor pod "${podId}"`);
      if (pod.stopped) return;
      for (const c of pod.containers.values()) if (!exited(c.pid)) await kill(c);
      if (pod.pause) {
        await kill(pod.pause);
        await cni("DEL", pod, portmapConf!, "eth0", pod.cniResult);
      }
      await cni("DEL", pod, bridgeConf!, "eth0", pod.cniResult);
      if (pod.pause) await cni("DEL", pod, { type: "loopback" }, "lo");
      pod.stopped = true;
    },
    async removePodSandbox(podId) {
      const pod = pods.get(podId);
      if (!pod) throw new Error(`Cannot find floor pod "${podId}"`);
      for (const c of pod.containers.values()) {
        await destroy(c);
        containerPod.delete(c.id);
      }
      if (pod.pause) await destroy(pod.pause);
      const pinned = pod.pinned ? [pod.pinned.ipc, pod.pinned.uts] : [];
      await denoRunner.run("umount", [pod.netns, ...pinned], { check: false });
      await Deno.remove(pod.dir, { recursive: true });
      pods.delete(podId);
    },
    async removeAllPods() {
      for (const id of [...pods.keys()]) {
        await target.stopPodSandbox(id).catch(() => {});
        await target.removePodSandbox(id).catch(() => {});
      }
    },
    async close() {
      await target.removeAllPods();
      // Anything left behind by a failed step.
      const left = text((await run(["list", "-q"], { check: false })).stdout).split("\n");
      for (const id of left) if (id) await run(["delete", "--force", id], { check: false });
      await removeTree(dir);
      await deleteLink(net.bridge);
      await removeCgroupParents("ocid-bench-floor");
    },
  };
  return target;
}
