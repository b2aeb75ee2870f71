/**
 * kubelet 1.29's CRI conversation for a static pod, replayed by a Go gRPC client on one
 * connection that sends the socket path as `:authority` (`test/go-client -session`), against
 * the real daemon (conmon, runc, CNI bridge, test registry). The pod has one container with an
 * exec liveness probe; its first attempt exits with a termination message, the second runs until
 * kubelet stops it with a grace period.
 *
 * Every answer is checked for the fields kubelet reads (the code paths are named beside each
 * check): the sync loop and node status (Version, Status), the eviction manager and image GC
 * (ImageFsInfo), the stats provider over CRI (ListPodSandboxStats, ListContainerStats), the pod
 * lifecycle in kuberuntime (RunPodSandbox, PodSandboxStatus, CreateContainer, StartContainer,
 * ContainerStatus with its termination-message mount, StopContainer, StopPodSandbox,
 * RemovePodSandbox), the generic PLEG relist (ListPodSandbox, ListContainers by label), the
 * prober (ExecSync) and the image puller (ImageStatus, PullImage).
 *
 * Root only. Network: bridge "ocidt37", 10.234.37.0/24; the registry listens on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { CriRpcs, UnaryRpcName } from "../../src/cri/proto.ts";
import { listDir, pushBusybox, waitFor } from "../helpers/checks.ts";
import { criPath, decodeResponse, encodeRequest } from "../helpers/cri_codec.ts";
import { pidsMentioning, startDaemon } from "../helpers/daemon.ts";
import { buildGoClient, GoSession } from "../helpers/go_client.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  CONTAINER_HASH,
  CONTAINER_NAME,
  CONTAINER_RESTART_COUNT,
  hostHasMemsw,
  hostHugePageSizes,
  kubeletContainerConfig,
  kubeletPodSandboxConfig,
  makeKubeletPod,
  makeTerminationLog,
  POD_NAME,
  POD_NAMESPACE,
  POD_UID,
  removeCgroupTree,
  TERMINATION_MESSAGE_PATH,
} from "../helpers/kubelet_shapes.ts";

const BRIDGE = "ocidt37";
const SUBNET_RE = /^10\.234\.37\.\d+$/;
const CGROUP_ROOT = "/kubepods-ocidt37";

/** A call that ended with a non-OK status. */
class CallError extends Error {
  code: number;
  constructor(method: string, code: number, message: string) {
    super(`${method}: code ${code}: ${message}`);
    this.code = code;
  }
}

/** Typed calls on one Go session, with the latency of each. */
class Kubelet {
  #go: GoSession;
  readonly transcript: { method: string; ms: number; code: number }[] = [];
  constructor(go: GoSession) {
    this.#go = go;
  }

  async call<M extends UnaryRpcName>(
    method: M,
    request: CriRpcs[M]["requestInit"],
  ): Promise<CriRpcs[M]["response"]> {
    const t0 = performance.now();
    const out = await this.#go.invoke(criPath(method), encodeRequest(method, request));
    this.transcript.push({ method, ms: performance.now() - t0, code: out.code });
    if (out.code !== grpc.status.OK) throw new CallError(method, out.code, out.message);
    return decodeResponse(method, out.response);
  }

  async code<M extends UnaryRpcName>(method: M, request: CriRpcs[M]["requestInit"]) {
    try {
      await this.call(method, request);
      return grpc.status.OK;
    } catch (err) {
      if (err instanceof CallError) return err.code;
      throw err;
    }
  }
}

/** A CRI timestamp in ns, as kubelet reads it (`time.Unix(0, ts)`), is within `ms` of now. */
function recentNs(ts: string, ms = 120_000): boolean {
  const delta = Number(BigInt(Date.now()) * 1_000_000n - BigInt(ts)) / 1e6;
  return delta >= -1_000 && delta <= ms;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The script of the container: crash with a termination message once, then serve. */
const SCRIPT = 'if [ -f /state/ran ]; then trap "exit 0" TERM; echo serving; ' +
  "while :; do sleep 0.1; done; else touch /state/ran; echo boom > /dev/termination-log; " +
  "echo crashing; exit 3; fi";

Deno.test({
  name: "kubelet 1.29's conversation for a static pod, replayed by a Go client, answered right",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    const goBin = buildGoClient();
    goBin.catch(() => {});
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it37/busybox");
    const daemon = await startDaemon({ bridge: BRIDGE, subnet: "10.234.37.0/24" });
    try {
      await using session = GoSession.start(await goBin, daemon.dirs.socket);
      const kubelet = new Kubelet(session);
      const pod = await makeKubeletPod(daemon.dirs.base, "static-app", CGROUP_ROOT);
      const state = join(pod.podDir, "volumes", "state");
      await Deno.mkdir(state, { recursive: true });
      const sandboxConfig = kubeletPodSandboxConfig(pod);
      const shape = { hugePageSizes: await hostHugePageSizes(), memsw: await hostHasMemsw() };
      let podId = "";
      let imageRef = "";
      const containerConfig = async (attempt: number) => {
        const config = kubeletContainerConfig(pod, {
          ...shape,
          name: "app",
          image,
          imageRef,
          command: ["/bin/sh", "-c", SCRIPT],
          attempt,
          memoryLimit: 32 << 20,
          terminationLog: await makeTerminationLog(pod, "app"),
          etcHosts: `${pod.podDir}/etc-hosts`,
        });
        config.mounts!.push({ container_path: "/state", host_path: state });
        return config;
      };

      await t.step("Version and Status (kubelet start, node status)", async () => {
        // kuberuntime_manager.go NewKubeGenericRuntimeManager: runtime_name, runtime_version,
        // runtime_api_version "v1"; kubelet.go updateRuntimeUp: RuntimeReady, NetworkReady.
        const v = await kubelet.call("Version", { version: "0.1.0" });
        assert.equal(v.runtime_name, "ocid");
        assert.equal(v.runtime_api_version, "v1");
        assert.match(v.runtime_version, /\d/);
        const s = await kubelet.call("Status", { verbose: false });
        const conds = Object.fromEntries(s.status!.conditions.map((c) => [c.type, c.status]));
        assert.deepEqual(conds, { RuntimeReady: true, NetworkReady: true });
      });

      await t.step("ImageFsInfo (eviction manager, image GC)", async () => {
        // container_gc.go IsContainerFsSeparateFromImageFs: mountpoints of the first entries;
        // cri_stats_provider.go ImageFsStats: timestamp (ns), used_bytes, inodes_used, and
        // cAdvisor's GetDirFsInfo(mountpoint) for capacity.
        const r = await kubelet.call("ImageFsInfo", {});
        const [img, ctr] = [r.image_filesystems[0]!, r.container_filesystems[0]!];
        assert.equal(ctr.fs_id!.mountpoint, img.fs_id!.mountpoint, "not a split filesystem");
        assert.ok((await Deno.stat(img.fs_id!.mountpoint)).isDirectory);
        assert.ok(recentNs(img.timestamp) && recentNs(ctr.timestamp));
        assert.ok(Number(img.used_bytes!.value) > 0 && Number(img.inodes_used!.value) > 0);
        assert.ok(Number(ctr.used_bytes!.value) > 0 && Number(ctr.inodes_used!.value) > 0);
      });

      await t.step("ListPodSandboxStats and ListContainerStats before any pod", async () => {
        // cri_stats_provider.go listPodStatsStrictlyFromCRI / listPodStats.
        assert.deepEqual((await kubelet.call("ListPodSandboxStats", {})).stats, []);
        assert.deepEqual((await kubelet.call("ListContainerStats", {})).stats, []);
      });

      await t.step("RunPodSandbox and PodSandboxStatus (SyncPod)", async () => {
        podId = (await kubelet.call("RunPodSandbox", { config: sandboxConfig })).pod_sandbox_id;
        assert.match(podId, /^[0-9a-f]{64}$/);
        // kuberuntime_manager.go SyncPod → PodSandboxStatus: network.ip (determinePodSandboxIPs),
        // state, metadata.attempt, created_at, linux.namespaces.options.network.
        const r = await kubelet.call("PodSandboxStatus", { pod_sandbox_id: podId, verbose: true });
        const st = r.status!;
        assert.equal(st.id, podId);
        assert.equal(st.state, "SANDBOX_READY");
        assert.match(st.network!.ip, SUBNET_RE);
        assert.deepEqual(st.metadata, {
          name: pod.name,
          namespace: pod.namespace,
          uid: pod.uid,
          attempt: 0,
        });
        assert.ok(recentNs(st.created_at));
        assert.equal(st.linux!.namespaces!.options!.network, "POD");
        assert.equal(st.labels[POD_UID], pod.uid);
        assert.equal(st.annotations["kubernetes.io/config.source"], "file");
        assert.ok(JSON.parse(r.info.info!), "verbose info is JSON");
        assert.ok(recentNs(r.timestamp), "timestamp in ns");
        // The pod's DNS config reached its resolv.conf.
        const resolv = await Deno.readTextFile(
          join(daemon.dirs.root, "sandboxes", podId, "resolv.conf"),
        );
        assert.match(resolv, /nameserver 10\.96\.0\.10/);
        assert.match(resolv, /options ndots:5/);
      });

      await t.step("ImageStatus, PullImage, ImageStatus (image puller, getImageUser)", async () => {
        // images/image_manager.go EnsureImageExists: ImageStatus says absent → PullImage.
        const absent = await kubelet.call("ImageStatus", { image: { image } });
        assert.equal(absent.image, null);
        const pulled = await kubelet.call("PullImage", {
          image: { image },
          sandbox_config: sandboxConfig,
        });
        assert.match(pulled.image_ref, /sha256:[0-9a-f]{64}$/);
        imageRef = pulled.image_ref;
        const st = (await kubelet.call("ImageStatus", { image: { image } })).image!;
        assert.equal(st.id, imageRef);
        assert.ok(st.repo_tags.includes(image));
        assert.ok(Number(st.size) > 0);
        // getImageUser: uid (or username) of the image's user; busybox has none → uid 0.
        assert.equal(st.uid?.value ?? "0", "0");
      });

      let first = "";
      await t.step("CreateContainer and StartContainer, attempt 0, which exits", async () => {
        const config = await containerConfig(0);
        first = (await kubelet.call("CreateContainer", {
          pod_sandbox_id: podId,
          config,
          sandbox_config: sandboxConfig,
        })).container_id;
        await kubelet.call("StartContainer", { container_id: first });
        // kuberuntime_container.go getContainerStatuses → toKubeContainerStatus + the
        // termination message read from the host path of the mount at the annotated path.
        const st = await waitFor("attempt 0 to exit", async () => {
          const s = (await kubelet.call("ContainerStatus", { container_id: first })).status!;
          return s.state === "CONTAINER_EXITED" ? s : undefined;
        }, { timeoutMs: 20_000 });
        assert.equal(st.exit_code, 3);
        assert.equal(st.reason, "Error");
        assert.equal(st.labels[CONTAINER_NAME], "app");
        assert.equal(st.labels[POD_NAME], pod.name);
        assert.equal(st.labels[POD_NAMESPACE], pod.namespace);
        assert.equal(st.annotations[CONTAINER_HASH], "7d3a1c2e");
        assert.equal(st.annotations[CONTAINER_RESTART_COUNT], "0");
        // image.image is what the pod status shows (a name, though kubelet sent the ID);
        // image_ref becomes its imageID (a repo digest, as containerd and CRI-O report).
        assert.equal(st.image!.image, image);
        assert.match(st.image_ref, /\/it37\/busybox@sha256:[0-9a-f]{64}$/);
        assert.equal(st.image_id, imageRef);
        assert.ok(recentNs(st.created_at) && recentNs(st.started_at) && recentNs(st.finished_at));
        assert.ok(BigInt(st.created_at) <= BigInt(st.started_at));
        assert.ok(BigInt(st.started_at) <= BigInt(st.finished_at));
        const termination = st.mounts.find(
          (m) => m.container_path === st.annotations[TERMINATION_MESSAGE_PATH],
        );
        assert.ok(termination, "the termination-log mount is in the status");
        assert.equal(await Deno.readTextFile(termination.host_path), "boom\n");
        assert.equal(st.log_path, join(pod.logDirectory, "app/0.log"));
        assert.match(await Deno.readTextFile(st.log_path), /stdout F crashing/);
      });

      let second = "";
      await t.step("CreateContainer with attempt 1 after the exit, then it serves", async () => {
        const config = await containerConfig(1);
        second = (await kubelet.call("CreateContainer", {
          pod_sandbox_id: podId,
          config,
          sandbox_config: sandboxConfig,
        })).container_id;
        assert.notEqual(second, first);
        await kubelet.call("StartContainer", { container_id: second });
        const st = (await kubelet.call("ContainerStatus", { container_id: second })).status!;
        assert.equal(st.state, "CONTAINER_RUNNING");
        assert.equal(st.metadata!.attempt, 1);
        assert.equal(st.annotations[CONTAINER_RESTART_COUNT], "1");
        assert.equal(st.log_path, join(pod.logDirectory, "app/1.log"));
        // "serving" comes after the TERM trap: the grace-period stop below relies on it.
        await waitFor("the container to serve", async () => {
          const log = await Deno.readTextFile(st.log_path).catch(() => "");
          return /stdout F serving$/m.test(log) || undefined;
        });
      });

      await t.step(
        "ListPodSandbox and ListContainers (generic PLEG relist, GetPodStatus)",
        async () => {
          // generic.go relist → GetPods(true): ListPodSandbox({}), ListContainers({}); grouped by
          // the io.kubernetes.pod.uid label.
          const pods = (await kubelet.call("ListPodSandbox", {})).items;
          assert.deepEqual(pods.map((p) => p.id), [podId]);
          assert.equal(pods[0]!.labels[POD_UID], pod.uid);
          assert.equal(pods[0]!.state, "SANDBOX_READY");
          const all = (await kubelet.call("ListContainers", {})).containers;
          assert.deepEqual(all.map((c) => c.id).sort(), [first, second].sort());
          // GetPodStatus: ListPodSandbox by the pod uid label; ListContainers by the same label.
          const byUid = (await kubelet.call("ListPodSandbox", {
            filter: { label_selector: { [POD_UID]: pod.uid } },
          })).items;
          assert.deepEqual(byUid.map((p) => p.id), [podId]);
          const mine = (await kubelet.call("ListContainers", {
            filter: { label_selector: { [POD_UID]: pod.uid } },
          })).containers;
          const byId = Object.fromEntries(mine.map((c) => [c.id, c]));
          assert.equal(byId[first]!.state, "CONTAINER_EXITED");
          assert.equal(byId[second]!.state, "CONTAINER_RUNNING");
          for (const c of mine) {
            assert.equal(c.pod_sandbox_id, podId);
            assert.equal(c.metadata!.name, "app");
            assert.equal(c.labels[CONTAINER_NAME], "app");
            assert.equal(c.annotations[CONTAINER_HASH], "7d3a1c2e");
            assert.equal(c.image_ref, imageRef);
            assert.ok(recentNs(c.created_at));
          }
          // image_gc_manager.go detectImages: an image is in use when some container's image_ref
          // (kubecontainer.Container.ImageID) equals its ListImages id.
          const images = (await kubelet.call("ListImages", {})).images;
          const inUse = images.filter((i) => mine.some((c) => c.image_ref === i.id));
          assert.deepEqual(inUse.map((i) => i.id), [imageRef], "the GC sees the image in use");
          assert.ok(Number(inUse[0]!.size) > 0);
          const byPod = (await kubelet.call("ListContainers", {
            filter: { pod_sandbox_id: podId, state: { state: "CONTAINER_RUNNING" } },
          })).containers;
          assert.deepEqual(byPod.map((c) => c.id), [second]);
        },
      );

      await t.step("ExecSync as an exec liveness probe (prober)", async () => {
        // prober/prober.go → ExecSync(id, cmd, timeout): exit_code 0 is success; stdout and
        // stderr become the probe's output.
        const ok = await kubelet.call("ExecSync", {
          container_id: second,
          cmd: ["/bin/sh", "-c", "test -f /state/ran && echo alive"],
          timeout: 1,
        });
        assert.equal(ok.exit_code, 0);
        assert.equal(text(ok.stdout), "alive\n");
        const bad = await kubelet.call("ExecSync", {
          container_id: second,
          cmd: ["/bin/sh", "-c", "echo unhealthy >&2; exit 1"],
          timeout: 1,
        });
        assert.equal(bad.exit_code, 1);
        assert.equal(text(bad.stderr), "unhealthy\n");
      });

      await t.step("ListPodSandboxStats and ListContainerStats (stats provider)", async () => {
        // cri_stats_provider.go makeContainerStats: attributes, cpu timestamp and
        // usage_core_nano_seconds, memory working_set_bytes, writable_layer.
        const cs = (await kubelet.call("ListContainerStats", {
          filter: { pod_sandbox_id: podId },
        })).stats;
        const s = cs.find((x) => x.attributes!.id === second);
        assert.ok(s, `stats of the running container: ${JSON.stringify(cs)}`);
        assert.equal(s.attributes!.metadata!.name, "app");
        assert.equal(s.attributes!.labels[POD_UID], pod.uid);
        assert.ok(recentNs(s.cpu!.timestamp));
        assert.ok(Number(s.cpu!.usage_core_nano_seconds!.value) > 0);
        assert.ok(Number(s.memory!.working_set_bytes!.value) > 0);
        assert.ok((await Deno.stat(s.writable_layer!.fs_id!.mountpoint)).isDirectory);
        // listPodStatsStrictlyFromCRI: pod attributes, cpu, memory, network.
        const ps = (await kubelet.call("ListPodSandboxStats", {})).stats;
        assert.deepEqual(ps.map((p) => p.attributes!.id), [podId]);
        const linux = ps[0]!.linux!;
        assert.equal(ps[0]!.attributes!.metadata!.uid, pod.uid);
        assert.ok(Number(linux.cpu!.usage_core_nano_seconds!.value) > 0);
        // addCRIPodNetworkStats reads network.default_interface without a nil check.
        assert.equal(linux.network!.default_interface!.name, "eth0");
        assert.ok(linux.containers.some((c) => c.attributes!.id === second));
      });

      await t.step("StopContainer with a grace period (killContainer)", async () => {
        // kuberuntime_container.go killContainer → StopContainer(id, gracePeriod); the
        // container's TERM trap makes it exit 0 well within the grace period.
        const t0 = performance.now();
        await kubelet.call("StopContainer", { container_id: second, timeout: 30 });
        assert.ok(performance.now() - t0 < 10_000, "stopped by SIGTERM, not after the grace");
        const st = (await kubelet.call("ContainerStatus", { container_id: second })).status!;
        assert.equal(st.state, "CONTAINER_EXITED");
        assert.equal(st.exit_code, 0);
        assert.equal(st.reason, "Completed");
      });

      await t.step("StopPodSandbox, container GC, RemovePodSandbox (pod deletion)", async () => {
        await kubelet.call("StopPodSandbox", { pod_sandbox_id: podId });
        const st = (await kubelet.call("PodSandboxStatus", { pod_sandbox_id: podId })).status!;
        assert.equal(st.state, "SANDBOX_NOTREADY");
        // kuberuntime_gc.go evictContainers → removeContainer: removeContainerLog reads
        // ContainerStatus.log_path and deletes the file, then RemoveContainer.
        for (const id of [first, second]) {
          const { log_path } = (await kubelet.call("ContainerStatus", { container_id: id }))
            .status!;
          await Deno.remove(log_path);
          await kubelet.call("RemoveContainer", { container_id: id });
          assert.equal(
            await kubelet.code("ContainerStatus", { container_id: id }),
            grpc.status.NOT_FOUND,
          );
        }
        // evictSandboxes: a NOTREADY sandbox without containers is removed.
        const items = (await kubelet.call("ListPodSandbox", {})).items;
        assert.deepEqual(items.map((p) => [p.id, p.state]), [[podId, "SANDBOX_NOTREADY"]]);
        await kubelet.call("RemovePodSandbox", { pod_sandbox_id: podId });
        assert.equal(
          await kubelet.code("PodSandboxStatus", { pod_sandbox_id: podId }),
          grpc.status.NOT_FOUND,
        );
        assert.deepEqual((await kubelet.call("ListContainers", {})).containers, []);
        assert.deepEqual((await kubelet.call("ListPodSandbox", {})).items, []);
        assert.deepEqual(await listDir(join(daemon.dirs.runroot, "socket")), []);
        const left = (await pidsMentioning(daemon.dirs.base)).filter(
          (p) => p !== daemon.pid && p !== session.pid,
        );
        assert.deepEqual(left, [], "no conmon or container process is left");
      });

      const perRpc = new Map<string, number[]>();
      for (const c of kubelet.transcript) {
        perRpc.set(c.method, [...(perRpc.get(c.method) ?? []), c.ms]);
      }
      console.log(
        "kubelet replay, ms per call:",
        [...perRpc].map(([m, ms]) => `${m} ${ms.map((x) => x.toFixed(1)).join("/")}`).join(", "),
      );
    } finally {
      await daemon.cleanup();
      await removeCgroupTree(CGROUP_ROOT);
    }
  },
});
