/**
 * Pods without an infra container (`drop_infra_ctr`, the default), end to end: containers join
 * the pod's pinned IPC, UTS and network namespaces by path; the pod's sysctls are set inside
 * them, never on the node; host-network, host-IPC and host-PID pods; port mappings; a pod that
 * shares its PID namespace keeps its infra container; one monitor process per container; a
 * restart finds a pod whose pinned namespaces vanished NOTREADY.
 * Root only. Network: bridge "ocidt38", 10.234.38.0/24.
 *
 * @module
 */
import assert from "node:assert/strict";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { alive, sh, waitFor } from "../helpers/checks.ts";
import {
  isDaemonDirMount,
  makeTestDirs,
  mountsUnder,
  pidsMentioning,
  programsDuring,
  startDaemon,
  type TestDaemon,
} from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  execBusybox as exec,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  type TestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";
import { assertNodeClean, removeAllPods } from "./_node_state.ts";

const BRIDGE = "ocidt38";
const SUBNET = "10.234.38.0/24";
const GATEWAY = "10.234.38.1";
const CGROUP_PARENT = "/ocid-it38";

/** The pod config with namespace modes and sysctls changed. */
function pod(
  name: string,
  ns: Partial<cri.NamespaceOptionInit> = {},
  extra: Partial<cri.PodSandboxConfigInit> = {},
  sysctls: Record<string, string> = {},
): cri.PodSandboxConfigInit {
  const base = testPodConfig(name, { namespace: "it38", cgroupParent: CGROUP_PARENT });
  return {
    ...base,
    ...extra,
    linux: {
      ...base.linux,
      sysctls,
      security_context: {
        namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD", ...ns },
      },
    },
  };
}

async function verboseInfo(d: TestDaemon, id: string): Promise<Record<string, unknown>> {
  const st = await call(d.clients.runtime, "PodSandboxStatus", {
    pod_sandbox_id: id,
    verbose: true,
  });
  return JSON.parse(st.info.info!);
}

/** Runs `sleep` containers named in `names` in the pod; returns their IDs. */
async function sleepers(d: TestDaemon, p: TestPod, image: string, names: string[]) {
  const ids: string[] = [];
  for (const name of names) {
    const id = await createTestContainer(d.clients.runtime, p, {
      name,
      image,
      command: ["/bin/sleep", "3600"],
    });
    await call(d.clients.runtime, "StartContainer", { container_id: id });
    ids.push(id);
  }
  return ids;
}

/** Host pids of the processes whose command line is `args` (NUL-joined as /proc shows it). */
async function pidsRunning(args: string[]): Promise<number[]> {
  const want = args.join("\0") + "\0";
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmdline === want && alive(Number(e.name))) out.push(Number(e.name));
  }
  return out;
}

/**
 * A container whose shell leaves a child (`sleep <n>`) and becomes `sleep <n+1>`; stopped at
 * once (timeout 0), none of its processes may live on: the SIGKILL reaches them all, by the
 * kernel (a PID namespace of its own ends with its init) or by the runtime (`kill --all`), and
 * at the latest by the exit's cleanup (`runc delete --force` kills what is left in the cgroup of
 * a container that shares a PID namespace). So this checks the end, not which of them did it.
 */
async function assertStopEndsEveryProcess(d: TestDaemon, p: TestPod, image: string, n: number) {
  const id = await createTestContainer(d.clients.runtime, p, {
    name: `family-${n}`,
    image,
    command: ["/bin/sh", "-c", `sleep ${n} & exec sleep ${n + 1}`],
  });
  await call(d.clients.runtime, "StartContainer", { container_id: id });
  const family = [["sleep", String(n)], ["sleep", String(n + 1)]];
  await waitFor("the container's two processes", async () => {
    const found = await Promise.all(family.map(pidsRunning));
    return found.every((pids) => pids.length === 1) ? true : undefined;
  });
  await call(d.clients.runtime, "StopContainer", { container_id: id, timeout: "0" });
  await waitFor("every process of the container to end", async () => {
    const found = await Promise.all(family.map(pidsRunning));
    return found.every((pids) => pids.length === 0) ? true : undefined;
  });
  const st = await call(d.clients.runtime, "ContainerStatus", { container_id: id });
  assert.equal(st.status?.exit_code, 137);
}

/** The sockets (`socket:[inode]` links) among the open fds of process `pid`. */
async function socketsOf(pid: number): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const e of Deno.readDir(`/proc/${pid}/fd`)) {
    const link = await Deno.readLink(`/proc/${pid}/fd/${e.name}`).catch(() => "");
    if (link.startsWith("socket:")) out.add(link);
  }
  return out;
}

/** The pids of conmon processes monitoring `id` (`-c <id>`). */
async function conmonsOf(id: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await pidsMentioning(id)) {
    const comm = await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "");
    const args = (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "")).split("\0");
    if (comm.trim() === "conmon" && args[args.indexOf("-c") + 1] === id) out.push(pid);
  }
  return out;
}

Deno.test({
  name: "Pods without an infra container: containers share the pinned namespaces",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const { daemon, image } = await startDaemonWithBusybox(registry.host, {
      repo: "it38/busybox",
      bridge: BRIDGE,
      subnet: SUBNET,
    });
    let d = daemon;
    try {
      const hostIpcValue = await Deno.readTextFile("/proc/sys/kernel/shm_rmid_forced");
      const hostPortStart = await Deno.readTextFile(
        "/proc/sys/net/ipv4/ip_unprivileged_port_start",
      );
      let web: TestPod = { id: "", config: {} as cri.PodSandboxConfigInit };
      let a = "";
      let b = "";
      await t.step("two containers run in a pod with no process of its own", async () => {
        web = await runTestPod(
          d.clients.runtime,
          pod("web", {}, {}, {
            "kernel.shm_rmid_forced": hostIpcValue.trim() === "1" ? "0" : "1",
            "net.ipv4.ip_unprivileged_port_start": "0",
          }),
        );
        const info = await verboseInfo(d, web.id);
        assert.equal(info.holder, "pinned");
        assert.equal(info.pid, 0);
        const ids = await sleepers(d, web, image, ["a", "b"]);
        a = ids[0]!;
        b = ids[1]!;
        // One monitor per container, none for the pod.
        assert.equal((await conmonsOf(web.id)).length, 0, "no conmon for the pod");
        assert.equal((await conmonsOf(a)).length, 1);
        assert.equal((await conmonsOf(b)).length, 1);
      });

      await t.step("conmon and the containers hold none of the daemon's sockets", async () => {
        const daemonSockets = await socketsOf(d.pid);
        assert.ok(daemonSockets.size > 0, "the daemon has sockets (the CRI socket at least)");
        for (const id of [a, b]) {
          const [conmon] = await conmonsOf(id);
          const st = await call(d.clients.runtime, "ContainerStatus", {
            container_id: id,
            verbose: true,
          });
          const pid = (JSON.parse(st.info.info!) as { pid: number }).pid;
          for (const holder of [conmon!, pid]) {
            const shared = [...await socketsOf(holder)].filter((s) => daemonSockets.has(s));
            assert.deepEqual(shared, [], `process ${holder} holds none of the daemon's sockets`);
          }
        }
      });

      await t.step("after a restart, a runc exec holds none of the daemon's sockets", async () => {
        // A restarted daemon has spawned no conmon yet: its fds are marked at start.
        await d.stop();
        d.clients.close();
        d = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, dirs: d.dirs });
        const daemonSockets = await socketsOf(d.pid);
        const running = exec(d, a, "sleep", "2");
        const execPid = await waitFor("the runc exec process", async () => {
          for (const pid of await pidsMentioning(a)) {
            const args = (await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => ""))
              .split("\0");
            if (args.includes("exec") && args.some((x) => x.endsWith("runc"))) return pid;
          }
          return undefined;
        }, { timeoutMs: 10_000, intervalMs: 20 });
        const shared = [...await socketsOf(execPid)].filter((s) => daemonSockets.has(s));
        assert.deepEqual(shared, [], "runc exec holds none of the daemon's sockets");
        await running;
      });

      await t.step("they share the pinned IPC, UTS and network namespaces", async () => {
        const info = await verboseInfo(d, web.id);
        const ipcIno = (await Deno.stat(info.ipcPath as string)).ino;
        const utsIno = (await Deno.stat(info.utsPath as string)).ino;
        const netIno = (await Deno.stat(info.netnsPath as string)).ino;
        for (const id of [a, b]) {
          assert.equal(await exec(d, id, "readlink", "/proc/self/ns/ipc"), `ipc:[${ipcIno}]`);
          assert.equal(await exec(d, id, "readlink", "/proc/self/ns/uts"), `uts:[${utsIno}]`);
          assert.equal(await exec(d, id, "readlink", "/proc/self/ns/net"), `net:[${netIno}]`);
          assert.equal(await exec(d, id, "hostname"), "web");
        }
        // Each container has its own PID namespace.
        assert.notEqual(
          await exec(d, a, "readlink", "/proc/self/ns/pid"),
          await exec(d, b, "readlink", "/proc/self/ns/pid"),
        );
        await exec(d, a, "sh", "-c", "echo shared > /dev/shm/x");
        assert.equal(await exec(d, b, "cat", "/dev/shm/x"), "shared");
      });

      await t.step("the pod's sysctls are set in its namespaces, not on the node", async () => {
        assert.equal(
          await exec(d, a, "cat", "/proc/sys/kernel/shm_rmid_forced"),
          hostIpcValue.trim() === "1" ? "0" : "1",
        );
        assert.equal(await exec(d, a, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"), "0");
        assert.equal(await Deno.readTextFile("/proc/sys/kernel/shm_rmid_forced"), hostIpcValue);
        assert.equal(
          await Deno.readTextFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
          hostPortStart,
        );
      });

      await t.step("PodSandboxStats counts the pinned netns's traffic", async () => {
        await exec(d, a, "ping", "-c", "2", "-W", "2", GATEWAY);
        const stats = (await call(d.clients.runtime, "PodSandboxStats", { pod_sandbox_id: web.id }))
          .stats!;
        const eth0 = stats.linux!.network!.default_interface!;
        assert.equal(eth0.name, "eth0");
        assert.ok(BigInt(eth0.tx_bytes!.value) >= 2n * 84n, JSON.stringify(eth0));
      });

      await t.step("a port mapping reaches the container", async () => {
        const port = 38080;
        let p: TestPod = { id: "", config: {} as cri.PodSandboxConfigInit };
        // Pods without host ports leave portmap out (pod_loopback_test); this one runs it.
        const run = await programsDuring(d, async () => {
          p = await runTestPod(
            d.clients.runtime,
            pod("ports", {}, {
              port_mappings: [{
                protocol: "TCP",
                container_port: 80,
                host_port: port,
                host_ip: "",
              }],
            }),
          );
        });
        assert.ok(run.includes("portmap ADD"), `RunPodSandbox ran ${JSON.stringify(run)}`);
        const id = await createTestContainer(d.clients.runtime, p, {
          name: "httpd",
          image,
          command: [
            "/bin/sh",
            "-c",
            "mkdir -p /www && echo hello-port > /www/index.html && exec httpd -f -p 80 -h /www",
          ],
        });
        await call(d.clients.runtime, "StartContainer", { container_id: id });
        const body = await waitFor("the mapped port", async () => {
          try {
            const res = await fetch(`http://${GATEWAY}:${port}/index.html`);
            return res.ok ? await res.text() : undefined;
          } catch {
            return undefined;
          }
        });
        assert.equal(body.trim(), "hello-port");
        const stopped = await programsDuring(
          d,
          () => call(d.clients.runtime, "StopPodSandbox", { pod_sandbox_id: p.id }),
        );
        assert.ok(stopped.includes("portmap DEL"), `StopPodSandbox ran ${JSON.stringify(stopped)}`);
        assert.ok(!(await sh("iptables-save", "-t", "nat")).includes(p.id), "forwarding removed");
        await call(d.clients.runtime, "RemovePodSandbox", { pod_sandbox_id: p.id });
      });

      await t.step("host network, host IPC and host PID pods join the node's", async () => {
        const self = async (ns: string) => await Deno.readLink(`/proc/self/ns/${ns}`);
        const hostNet = await runTestPod(d.clients.runtime, pod("hnet", { network: "NODE" }));
        const [n] = await sleepers(d, hostNet, image, ["n"]);
        assert.equal(await exec(d, n!, "readlink", "/proc/self/ns/net"), await self("net"));
        assert.equal(await exec(d, n!, "readlink", "/proc/self/ns/uts"), await self("uts"));
        assert.notEqual(await exec(d, n!, "readlink", "/proc/self/ns/ipc"), await self("ipc"));
        const hnetInfo = await verboseInfo(d, hostNet.id);
        assert.equal(hnetInfo.utsPath, "", "no UTS namespace pinned with host network");

        const hostIpc = await runTestPod(d.clients.runtime, pod("hipc", { ipc: "NODE" }));
        const [i] = await sleepers(d, hostIpc, image, ["i"]);
        assert.equal(await exec(d, i!, "readlink", "/proc/self/ns/ipc"), await self("ipc"));
        assert.equal(await exec(d, i!, "hostname"), "hipc");

        const hostPid = await runTestPod(d.clients.runtime, pod("hpid", { pid: "NODE" }));
        const [p] = await sleepers(d, hostPid, image, ["p"]);
        assert.equal(await exec(d, p!, "readlink", "/proc/self/ns/pid"), await self("pid"));
        assert.equal((await verboseInfo(d, hostPid.id)).holder, "pinned");
        // On the node's PID namespace too, the stop ends a child the container left
        // (containerd's TestSharedPidMultiProcessContainerStop, hostpid).
        await assertStopEndsEveryProcess(d, hostPid, image, 3730);
        for (const x of [hostNet, hostIpc, hostPid]) {
          await call(d.clients.runtime, "StopPodSandbox", { pod_sandbox_id: x.id });
          await call(d.clients.runtime, "RemovePodSandbox", { pod_sandbox_id: x.id });
        }
      });

      await t.step("a pod that shares its PID namespace keeps its infra container", async () => {
        const shared = await runTestPod(d.clients.runtime, pod("shared", { pid: "POD" }));
        const info = await verboseInfo(d, shared.id);
        assert.equal(info.holder, "infra");
        assert.ok(alive(info.pid as number), "the pause process runs");
        const [c] = await sleepers(d, shared, image, ["c"]);
        // pause is PID 1 of the pod; the container's sleep is another process of it.
        assert.equal(
          await exec(d, c!, "cat", "/proc/1/cmdline").then((s) => s.split("\0")[0]),
          "/pause",
        );
        // A child left in the pod's PID namespace dies with its container's stop.
        await assertStopEndsEveryProcess(d, shared, image, 3710);
        await call(d.clients.runtime, "StopPodSandbox", { pod_sandbox_id: shared.id });
        await call(d.clients.runtime, "RemovePodSandbox", { pod_sandbox_id: shared.id });
      });

      await t.step(
        "a container's stop ends a child it left, in its own PID namespace",
        async () => {
          await assertStopEndsEveryProcess(d, web, image, 3720);
        },
      );

      await t.step("StopPodSandbox stops the containers and unpins the namespaces", async () => {
        const info = await verboseInfo(d, web.id);
        await call(d.clients.runtime, "StopPodSandbox", { pod_sandbox_id: web.id });
        const st = await call(d.clients.runtime, "PodSandboxStatus", { pod_sandbox_id: web.id });
        assert.equal(st.status!.state, "SANDBOX_NOTREADY");
        const mounts = await mountsUnder(d.dirs.runroot);
        for (const path of [info.ipcPath, info.utsPath, info.netnsPath]) {
          assert.ok(!mounts.includes(path as string), `${path} is unmounted`);
        }
        const listed = (await call(d.clients.runtime, "ListContainers", {
          filter: { pod_sandbox_id: web.id },
        })).containers;
        assert.deepEqual(listed.map((c) => c.state), [
          "CONTAINER_EXITED",
          "CONTAINER_EXITED",
          "CONTAINER_EXITED",
        ]);
        await removeAllPods(d.clients);
        await assertNodeClean(d.dirs, d.pid, "after removing the pods");
      });

      await t.step("a restart finds a pod whose pins vanished NOTREADY", async () => {
        const p = await runTestPod(d.clients.runtime, pod("vanish"));
        const kept = await runTestPod(d.clients.runtime, pod("kept"));
        const info = await verboseInfo(d, p.id);
        await d.stop("SIGKILL");
        d.clients.close();
        const umount = await new Deno.Command("umount", { args: ["-l", info.ipcPath as string] })
          .output();
        assert.ok(umount.success);
        d = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, dirs: d.dirs });
        const state = async (id: string) =>
          (await call(d.clients.runtime, "PodSandboxStatus", { pod_sandbox_id: id })).status!
            .state;
        assert.equal(await state(p.id), "SANDBOX_NOTREADY");
        assert.equal(await state(kept.id), "SANDBOX_READY");
        await removeAllPods(d.clients);
        await assertNodeClean(d.dirs, d.pid, "after removing the pods");
      });
    } finally {
      await d.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});

Deno.test({
  name: "A runroot behind a symlink: pinned pods survive a restart and leave no mount",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dirs = await makeTestDirs({ bridge: BRIDGE, subnet: SUBNET });
    // mountinfo shows real paths; the daemon is given the symlink (as /var/run → /run).
    const real = `${dirs.runroot}-real`;
    await Deno.mkdir(real, { recursive: true });
    await Deno.symlink(real, dirs.runroot);
    let d = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, dirs });
    try {
      const p = await runTestPod(d.clients.runtime, pod("linked"));
      assert.equal((await verboseInfo(d, p.id)).holder, "pinned");
      await d.stop("SIGKILL");
      d.clients.close();
      d = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, dirs });
      const st = await call(d.clients.runtime, "PodSandboxStatus", { pod_sandbox_id: p.id });
      assert.equal(st.status!.state, "SANDBOX_READY", "the pins are found behind the symlink");
      await call(d.clients.runtime, "StopPodSandbox", { pod_sandbox_id: p.id });
      await call(d.clients.runtime, "RemovePodSandbox", { pod_sandbox_id: p.id });
      const left = (await mountsUnder(dirs.base)).filter((m) => !isDaemonDirMount(m));
      assert.deepEqual(left, [], "no shm or namespace mount is left");
    } finally {
      await d.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
