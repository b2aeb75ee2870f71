/**
 * What a real kubelet 1.29 hit on ocid, against the real daemon (conmon, runc, CNI bridge, test
 * registry) with kubelet's request shapes (`test/helpers/kubelet_shapes.ts`):
 * - a container with kubelet's resources (a hugepage limit of 0 for every pool of
 *   /sys/kernel/mm/hugepages, a swap limit where memsw exists) starts on a machine whose cgroups
 *   lack a hugetlb controller runc can use;
 * - a creation the runtime refuses leaves nothing in `<runroot>/socket` (nor exits);
 * - ImageFsInfo names one filesystem for images and writable layers when they share one
 *   (kubelet's IsContainerFsSeparateFromImageFs), with figures that are not zero, and two when
 *   `<root>/containers` is a filesystem of its own (a tmpfs the test mounts).
 *
 * Root only. Network: bridge "ocidt36", 10.234.36.0/24; the registry listens on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import { detectCgroupLayout, probeCgroupSupport } from "../../src/cgroups/mod.ts";
import { listDir, sh, waitFor } from "../helpers/checks.ts";
import { startRegistry } from "../helpers/registry.ts";
import { startDaemonWithBusybox } from "../helpers/test_pod.ts";
import { cleanupDirs, makeTestDirs, startDaemon } from "../helpers/daemon.ts";
import {
  hostHasMemsw,
  hostHugePageSizes,
  kubeletContainerConfig,
  kubeletPodSandboxConfig,
  makeKubeletPod,
  makeTerminationLog,
  removeCgroupTree,
} from "../helpers/kubelet_shapes.ts";

const BRIDGE = "ocidt36";
const SUBNET = "10.234.36.0/24";
const CGROUP_ROOT = "/kubepods-ocidt36";
const LONG = { deadlineMs: 60_000 };

Deno.test({
  name: "kubelet's requests: resources start, failed creations leave no socket, one image fs",
  ignore: Deno.uid() !== 0,
  async fn(t) {
    await using registry = await startRegistry();
    const { daemon, image } = await startDaemonWithBusybox(registry.host, {
      repo: "it36/busybox",
      bridge: BRIDGE,
      subnet: SUBNET,
    });
    const rt = daemon.clients.runtime;
    const img = daemon.clients.image;
    const sockets = join(daemon.dirs.runroot, "socket");
    const exits = join(daemon.dirs.runroot, "exits");
    try {
      const pod = await makeKubeletPod(daemon.dirs.base, "static-web", CGROUP_ROOT);
      const podConfig = kubeletPodSandboxConfig(pod);
      const podId = (await call(rt, "RunPodSandbox", { config: podConfig }, LONG)).pod_sandbox_id;
      const imageRef = (await call(img, "ImageStatus", { image: { image } })).image!.id;
      const hugePageSizes = await hostHugePageSizes();
      const memsw = await hostHasMemsw();
      const support = await probeCgroupSupport(await detectCgroupLayout());
      const shape = { hugePageSizes, memsw, imageRef, image };

      await t.step("a container with kubelet's resources shape starts", async () => {
        const config = kubeletContainerConfig(pod, {
          ...shape,
          name: "web",
          command: ["sleep", "3600"],
          memoryLimit: 64 << 20,
          terminationLog: await makeTerminationLog(pod, "web"),
          etcHosts: `${pod.podDir}/etc-hosts`,
        });
        const { container_id: id } = await call(rt, "CreateContainer", {
          pod_sandbox_id: podId,
          config,
          sandbox_config: podConfig,
        }, LONG);
        await call(rt, "StartContainer", { container_id: id }, LONG);
        const status = (await call(rt, "ContainerStatus", { container_id: id })).status!;
        assert.equal(status.state, "CONTAINER_RUNNING");

        // What runc got: hugepage limits only for sizes the cgroups support, the rest kept.
        const bundle = join(daemon.dirs.root, "containers", id, "bundle");
        const spec = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
        const sent = (spec.linux.resources.hugepageLimits ?? []).map(
          (h: { pageSize: string }) => h.pageSize,
        );
        assert.deepEqual(sent, hugePageSizes.filter((s) => support.hugePageSizes.includes(s)));
        assert.equal(spec.linux.resources.memory.limit, 64 << 20);
        assert.equal(spec.linux.resources.cpu.shares, 2);
        if (hugePageSizes.length > sent.length) {
          assert.match(daemon.output(), /Dropped limits this machine's cgroups cannot enforce/);
        }
        // And the kernel enforces the memory limit in the container's cgroup.
        const cgroup = `${pod.cgroupParent}/ocid-${id}`;
        const limitFile = support.mode === "v1"
          ? `/sys/fs/cgroup/memory${cgroup}/memory.limit_in_bytes`
          : `/sys/fs/cgroup${cgroup}/memory.max`;
        assert.equal((await Deno.readTextFile(limitFile)).trim(), String(64 << 20));
        await call(rt, "StopContainer", { container_id: id, timeout: "0" }, LONG);
        await call(rt, "RemoveContainer", { container_id: id }, LONG);
      });

      await t.step("creations the runtime refuses leave no socket entry or exit file", async () => {
        const before = { sockets: await listDir(sockets), exits: await listDir(exits) };
        for (
          const [name, command, cpus] of [
            ["nobin", ["/no/such/binary"], ""],
            ["nocpu", ["sleep", "1"], "1000-1001"],
          ] as const
        ) {
          const config = kubeletContainerConfig(pod, {
            ...shape,
            name,
            command: [...command],
            terminationLog: await makeTerminationLog(pod, name),
            etcHosts: `${pod.podDir}/etc-hosts`,
          });
          config.linux!.resources!.cpuset_cpus = cpus;
          // kubelet retries a failing container: three attempts.
          for (let i = 0; i < 3; i++) {
            await assert.rejects(
              call(rt, "CreateContainer", {
                pod_sandbox_id: podId,
                config,
                sandbox_config: podConfig,
              }, LONG),
              /runc create|no such file|cpuset|exec/i,
            );
          }
        }
        assert.deepEqual(await listDir(sockets), before.sockets);
        assert.deepEqual(await listDir(exits), before.exits);
        const left = (await call(rt, "ListContainers", {})).containers.filter(
          (c) => c.pod_sandbox_id === podId,
        );
        assert.deepEqual(left, [], "no container record either");
      });

      await t.step("ImageFsInfo: one filesystem for images and writable layers", async () => {
        const r = await call(img, "ImageFsInfo", {});
        const imageFs = r.image_filesystems[0]!;
        const containerFs = r.container_filesystems[0]!;
        // kubelet 1.29 realContainerGC.IsContainerFsSeparateFromImageFs:
        assert.equal(
          containerFs.fs_id!.mountpoint,
          imageFs.fs_id!.mountpoint,
          "images and containers share the test root's filesystem",
        );
        for (const fs of [imageFs, containerFs]) {
          assert.ok(BigInt(fs.used_bytes!.value) > 0n, "used_bytes");
          assert.ok(BigInt(fs.inodes_used!.value) > 0n, "inodes_used");
          // What cAdvisor's GetDirFsInfo would report for the mountpoint: a real filesystem.
          const [blocks, inodes] = (await sh("stat", "-f", "-c", "%b %c", fs.fs_id!.mountpoint))
            .trim().split(" ").map(Number);
          assert.ok(blocks! > 0 && inodes! >= 0, `capacity of ${fs.fs_id!.mountpoint}`);
        }
      });

      await call(rt, "StopPodSandbox", { pod_sandbox_id: podId }, LONG);
      await call(rt, "RemovePodSandbox", { pod_sandbox_id: podId }, LONG);
      await waitFor(
        "an empty socket dir after the pod is removed",
        async () => (await listDir(sockets)).length === 0 || undefined,
        { timeoutMs: 10_000 },
      );
    } finally {
      await daemon.cleanup();
      await removeCgroupTree(CGROUP_ROOT);
    }
  },
});

Deno.test({
  name: "ImageFsInfo names two filesystems when writable layers truly live on another one",
  ignore: Deno.uid() !== 0,
  async fn() {
    const options = { bridge: BRIDGE, subnet: SUBNET, noNetwork: true };
    const dirs = await makeTestDirs(options);
    const containers = join(dirs.root, "containers");
    await Deno.mkdir(containers, { recursive: true });
    await sh("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", containers);
    try {
      const daemon = await startDaemon({ ...options, dirs });
      try {
        const r = await call(daemon.clients.image, "ImageFsInfo", {});
        const imageFs = r.image_filesystems[0]!;
        const containerFs = r.container_filesystems[0]!;
        assert.equal(imageFs.fs_id!.mountpoint, join(dirs.root, "images"));
        assert.equal(containerFs.fs_id!.mountpoint, containers, "a split kubelet must see");
        assert.ok(BigInt(containerFs.used_bytes!.value) >= 0n);
        assert.ok(BigInt(containerFs.inodes_used!.value) > 0n);
      } finally {
        await daemon.stop();
      }
    } finally {
      await sh("umount", containers);
      await cleanupDirs(dirs, BRIDGE);
    }
  },
});
