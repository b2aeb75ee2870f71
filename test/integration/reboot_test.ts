/**
 * A node reboot, against the real daemon: every process (conmon, containers, the infra
 * container), mount and runtime state goes, and the runroot (a tmpfs, `/run/ocid`) is empty;
 * the root (`/var/lib/ocid`) and the CNI plugins' IPAM state (`/var/lib/cni`) stay. After it,
 * ocid starts, reports the pods NOTREADY and their containers EXITED, and the kubelet's clean-up
 * (StopPodSandbox, RemovePodSandbox) releases the pods' IPs and leaves nothing; new pods run.
 * Both pod kinds: pinned namespaces (pid CONTAINER) and an infra container (pid POD). Root only.
 * Network: bridge "ocidt54", 10.234.54.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import { ipamReservations, listDir, pushBusybox } from "../helpers/checks.ts";
import { mountsUnder, pidsMentioning, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt54";
const SUBNET = "10.234.54.0/24";
const CGROUP_PARENT = "/ocid-it54";
const SLOW = { deadlineMs: 60_000 };

/** What a reboot takes away, given the dirs of a daemon killed with SIGKILL. */
async function reboot(daemon: TestDaemon): Promise<void> {
  const { dirs } = daemon;
  // The container processes are children of conmon, whose command line names our dirs; runc
  // delete --force kills them and takes the runtime state and container cgroups.
  for (const pid of await pidsMentioning(dirs.base)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
  const runtimeRoot = join(dirs.runroot, "runc");
  for (const id of await listDir(runtimeRoot).catch(() => [])) {
    await new Deno.Command("runc", { args: ["--root", runtimeRoot, "delete", "--force", id] })
      .output();
  }
  // Deepest first, so that nothing stays busy: rootfs overlays, shm, pinned namespaces.
  for (const point of (await mountsUnder(dirs.base)).sort((a, b) => b.length - a.length)) {
    await new Deno.Command("umount", { args: ["-l", point] }).output();
  }
  await Deno.remove(dirs.runroot, { recursive: true });
}

Deno.test({
  name: "After a node reboot, pods are NOTREADY, their clean-up releases everything, new pods run",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it54/busybox");
    let daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
    try {
      const pods: { id: string; container: string; ip: string }[] = [];
      await t.step("a pod of each kind with a running container", async () => {
        const { runtime } = daemon.clients;
        await call(daemon.clients.image, "PullImage", { image: { image } }, SLOW);
        for (const pid of ["CONTAINER", "POD"] as const) {
          const pod = await runTestPod(
            runtime,
            testPodConfig(`boot-${pid.toLowerCase()}`, {
              namespace: "it54",
              cgroupParent: CGROUP_PARENT,
              pid,
            }),
          );
          const container = await createTestContainer(runtime, pod, {
            name: "sleeper",
            image,
            command: ["/bin/sleep", "3600"],
          });
          await call(runtime, "StartContainer", { container_id: container });
          const st = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: pod.id });
          pods.push({ id: pod.id, container, ip: st.status!.network!.ip });
        }
        assert.deepEqual(
          await ipamReservations(daemon.dirs.cniDataDir),
          pods.map((p) => p.ip).sort(),
        );
      });

      await t.step("the reboot: processes, mounts, runtime state and the runroot go", async () => {
        await daemon.stop("SIGKILL");
        await reboot(daemon);
        assert.deepEqual(await mountsUnder(daemon.dirs.base), []);
        assert.deepEqual(await pidsMentioning(daemon.dirs.base), []);
        daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, dirs: daemon.dirs });
      });

      await t.step("ocid reports the pods NOTREADY and the containers EXITED", async () => {
        const { runtime } = daemon.clients;
        const listed = await call(runtime, "ListPodSandbox", {});
        assert.deepEqual(
          listed.items.map((p) => [p.id, p.state]).sort(),
          pods.map((p) => [p.id, "SANDBOX_NOTREADY"]).sort(),
        );
        for (const p of pods) {
          const st = await call(runtime, "ContainerStatus", { container_id: p.container });
          assert.equal(st.status!.state, "CONTAINER_EXITED", p.container);
          assert.notEqual(st.status!.finished_at, "0", "a finish time");
          // containerd's code and reason for an exit nobody saw.
          assert.deepEqual([st.status!.exit_code, st.status!.reason], [255, "Unknown"]);
          assert.match(st.status!.message, /gone, with no exit status/);
        }
      });

      await t.step(
        "StopPodSandbox and RemovePodSandbox release the IPs and leave nothing",
        async () => {
          const { runtime } = daemon.clients;
          for (const p of pods) {
            await call(runtime, "StopPodSandbox", { pod_sandbox_id: p.id }, SLOW);
            await call(runtime, "RemovePodSandbox", { pod_sandbox_id: p.id }, SLOW);
          }
          assert.deepEqual(await ipamReservations(daemon.dirs.cniDataDir), []);
          assert.deepEqual((await call(runtime, "ListPodSandbox", {})).items, []);
          assert.deepEqual((await call(runtime, "ListContainers", {})).containers, []);
          for (const dir of ["containers", "sandboxes"]) {
            assert.deepEqual(await listDir(join(daemon.dirs.root, dir)), [], dir);
          }
          assert.deepEqual(await mountsUnder(daemon.dirs.base), []);
        },
      );

      await t.step("a new pod runs and gets an address", async () => {
        const { runtime } = daemon.clients;
        const pod = await runTestPod(
          runtime,
          testPodConfig("after", { namespace: "it54", cgroupParent: CGROUP_PARENT }),
        );
        const container = await createTestContainer(runtime, pod, {
          name: "sleeper",
          image,
          command: ["/bin/sleep", "3600"],
        });
        await call(runtime, "StartContainer", { container_id: container });
        const st = await call(runtime, "ContainerStatus", { container_id: container });
        assert.equal(st.status!.state, "CONTAINER_RUNNING");
        const pst = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: pod.id });
        assert.match(pst.status!.network!.ip, /^10\.234\.54\./);
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, SLOW);
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, SLOW);
      });
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
