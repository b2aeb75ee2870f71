/**
 * Restart recovery against the real daemon: pods with running containers survive `kill -9`
 * of ocid and a restart with the same IDs, states, IPs, PIDs and logs; a container that exits
 * while ocid is down reports its exit code afterwards. Also: the restore time with 100 pods
 * (printed, not asserted), and the on-demand garbage sweep (SIGUSR1) on planted garbage.
 * The kill -9 and the sweep tests run once per way pods hold their namespaces (pinned files,
 * an infra container).
 * Root only. Network: bridge "ocidt5", 10.234.5.0/24 (the tests run one after the other).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { makeBundle } from "../helpers/bundle.ts";
import {
  mountsUnder,
  startDaemon,
  type TestDaemon,
  testEachHolderMode,
} from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  alive,
  assertNodeClean,
  listDir,
  podConfig,
  pushBusybox,
  removeAllPods,
  runPod,
  waitFor,
} from "./_node_state.ts";

const BRIDGE = "ocidt5";
const SUBNET = "10.234.5.0/24";
const PODS = 10;

interface Seen {
  podId: string;
  ip: string;
  containerId: string;
  pid: number;
  logPath: string;
}

async function containerInfo(daemon: TestDaemon, id: string) {
  const st = await call(daemon.clients.runtime, "ContainerStatus", {
    container_id: id,
    verbose: true,
  });
  return { status: st.status!, info: JSON.parse(st.info.info ?? "{}") as { pid: number } };
}

function servingMs(output: string): number {
  const lines = output.split("\n").filter((l) => l.includes("ocid is serving"));
  const m = /\bms=(\d+)/.exec(lines.at(-1) ?? "");
  return m ? Number(m[1]) : NaN;
}

testEachHolderMode({
  name: "Pods and containers survive kill -9 of ocid and a restart; exits while down are seen",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t, mode) {
    await using registry = await startRegistry();
    const hostDir = await Deno.makeTempDir({ prefix: "ocid-it5-trigger-" });
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it5/busybox");
      daemon = await startDaemon({
        bridge: BRIDGE,
        subnet: SUBNET,
        dropInfraCtr: mode.dropInfraCtr,
      });
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });

      const seen: Seen[] = [];
      let exiterId = "";
      await t.step(`${PODS} pods, each with a running container that logs`, async () => {
        for (let i = 0; i < PODS; i++) {
          const pc = podConfig(`r${i}`, "it5");
          pc.log_directory = join(daemon!.dirs.logDir, `r${i}`);
          const podId = await runPod(daemon!.clients, pc);
          const cfg: cri.ContainerConfigInit = {
            metadata: { name: "main", attempt: 0 },
            image: { image },
            command: ["/bin/sh", "-c", `echo hello-${i}; exec /bin/sleep 3600`],
            log_path: "main/0.log",
          };
          const { container_id } = await call(daemon!.clients.runtime, "CreateContainer", {
            pod_sandbox_id: podId,
            sandbox_config: pc,
            config: cfg,
          }, { deadlineMs: 60_000 });
          await call(daemon!.clients.runtime, "StartContainer", { container_id });
          if (i === 0) {
            const exiter = await call(daemon!.clients.runtime, "CreateContainer", {
              pod_sandbox_id: podId,
              sandbox_config: pc,
              config: {
                metadata: { name: "exiter", attempt: 0 },
                image: { image },
                command: [
                  "/bin/sh",
                  "-c",
                  "echo waiting; while [ ! -e /trigger/go ]; do sleep 0.05; done; exit 7",
                ],
                mounts: [{ container_path: "/trigger", host_path: hostDir }],
                log_path: "exiter/0.log",
              },
            }, { deadlineMs: 60_000 });
            exiterId = exiter.container_id;
            await call(daemon!.clients.runtime, "StartContainer", { container_id: exiterId });
          }
          const pod = await call(daemon!.clients.runtime, "PodSandboxStatus", {
            pod_sandbox_id: podId,
          });
          const { status, info } = await containerInfo(daemon!, container_id);
          assert.equal(status.state, "CONTAINER_RUNNING");
          seen.push({
            podId,
            ip: pod.status!.network!.ip,
            containerId: container_id,
            pid: info.pid,
            logPath: status.log_path,
          });
        }
        for (const [i, s] of seen.entries()) {
          await waitFor(`log of pod ${i}`, async () => {
            const text = await Deno.readTextFile(s.logPath).catch(() => "");
            return text.includes(`hello-${i}`) ? true : undefined;
          });
        }
      });

      const exitFile = join(daemon.dirs.runroot, "exits", exiterId);
      await t.step("kill -9 of ocid leaves every container running", async () => {
        const status = await daemon!.stop("SIGKILL");
        assert.equal(status.signal, "SIGKILL");
        for (const s of seen) assert.ok(alive(s.pid), `container ${s.containerId} still runs`);
      });

      await t.step("a container exits with 7 while ocid is down", async () => {
        await Deno.writeTextFile(join(hostDir, "go"), "");
        await waitFor("the exit file of the exiting container", async () => {
          const text = await Deno.readTextFile(exitFile).catch(() => "");
          return text.trim() !== "" ? text : undefined;
        });
      });

      await t.step("after a restart: same IDs, states, IPs, PIDs and logs", async () => {
        daemon!.clients.close();
        const d: TestDaemon = await startDaemon({
          bridge: BRIDGE,
          subnet: SUBNET,
          dirs: daemon!.dirs,
          dropInfraCtr: mode.dropInfraCtr,
        });
        daemon = d;
        console.log(`restore with ${PODS} pods: ${servingMs(d.output())} ms to serving`);
        const pods = (await call(d.clients.runtime, "ListPodSandbox", {})).items;
        assert.deepEqual(pods.map((p) => p.id).sort(), seen.map((s) => s.podId).sort());
        for (const [i, s] of seen.entries()) {
          const pod = await call(d.clients.runtime, "PodSandboxStatus", {
            pod_sandbox_id: s.podId,
          });
          if (pod.status!.state !== "SANDBOX_READY") {
            // What the restarted daemon said about it, to tell a flake's cause.
            console.error(
              d.output().split("\n").filter((l) => /WARN|ERROR|Recovered/i.test(l))
                .slice(-30).join("\n"),
            );
          }
          assert.equal(pod.status!.state, "SANDBOX_READY", `pod ${i} is ready`);
          assert.equal(pod.status!.network!.ip, s.ip, `pod ${i} keeps its IP`);
          const { status, info } = await containerInfo(d, s.containerId);
          assert.equal(status.state, "CONTAINER_RUNNING", `container ${i} runs`);
          assert.equal(info.pid, s.pid, `container ${i} keeps its pid`);
          assert.equal(status.log_path, s.logPath);
          assert.ok((await Deno.readTextFile(s.logPath)).includes(`hello-${i}`));
        }
      });

      await t.step("the container that exited meanwhile reports exit code 7", async () => {
        const { status } = await containerInfo(daemon!, exiterId);
        assert.equal(status.state, "CONTAINER_EXITED");
        assert.equal(status.exit_code, 7);
        assert.equal(status.reason, "Error");
        const fileTime = BigInt((await Deno.stat(exitFile)).mtime!.getTime()) * 1_000_000n;
        assert.equal(BigInt(status.finished_at) / 1_000_000n, fileTime / 1_000_000n);
        assert.ok(BigInt(status.finished_at) > BigInt(status.started_at));
      });

      await t.step("the restarted daemon still runs pods and execs", async () => {
        const s = seen[1]!;
        const res = await call(daemon!.clients.runtime, "ExecSync", {
          container_id: s.containerId,
          cmd: ["/bin/echo", "still-here"],
          timeout: 10,
        }, { deadlineMs: 30_000 });
        assert.equal(new TextDecoder().decode(res.stdout).trim(), "still-here");
      });

      await t.step("SIGTERM shuts down gracefully and leaves containers running", async () => {
        const status = await daemon!.stop("SIGTERM");
        assert.equal(status.code, 0, daemon!.output().slice(-2000));
        assert.match(daemon!.output(), /ocid stopped/);
        for (const s of seen) assert.ok(alive(s.pid), `container ${s.containerId} still runs`);
        daemon!.clients.close();
        const d: TestDaemon = await startDaemon({
          bridge: BRIDGE,
          subnet: SUBNET,
          dirs: daemon!.dirs,
          dropInfraCtr: mode.dropInfraCtr,
        });
        daemon = d;
        const pods = (await call(d.clients.runtime, "ListPodSandbox", {})).items;
        assert.equal(pods.filter((p) => p.state === "SANDBOX_READY").length, PODS);
      });

      await t.step("removing every pod leaves the node clean", async () => {
        await removeAllPods(daemon!.clients);
        await assertNodeClean(daemon!.dirs, daemon!.pid, "after removing all pods");
      });
    } finally {
      await daemon?.cleanup();
      await Deno.remove(hostDir, { recursive: true }).catch(() => {});
    }
  },
});

const RESTORE_PODS = 100;

Deno.test({
  name: `Restore time after kill -9 with ${RESTORE_PODS} pods, each with a running container`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it5/busybox");
      daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const containers = new Map<string, number>();
      await t.step(`${RESTORE_PODS} pods with a running container`, async () => {
        // Ten at a time: the figure is about the restart, not about creating them.
        const one = async (i: number) => {
          const d = daemon!;
          const pc = podConfig(`big${i}`, "it5b");
          const podId = await runPod(d.clients, pc);
          const { container_id } = await call(d.clients.runtime, "CreateContainer", {
            pod_sandbox_id: podId,
            sandbox_config: pc,
            config: {
              metadata: { name: "main", attempt: 0 },
              image: { image },
              command: ["/bin/sleep", "3600"],
              log_path: "main/0.log",
            },
          }, { deadlineMs: 60_000 });
          await call(d.clients.runtime, "StartContainer", { container_id });
          const { info } = await containerInfo(d, container_id);
          containers.set(container_id, info.pid);
        };
        for (let i = 0; i < RESTORE_PODS; i += 10) {
          await Promise.all(Array.from({ length: 10 }, (_, k) => one(i + k)));
        }
        assert.equal(containers.size, RESTORE_PODS);
      });

      await t.step("kill -9 and a restart restore every pod and container", async () => {
        const status = await daemon!.stop("SIGKILL");
        assert.equal(status.signal, "SIGKILL");
        daemon!.clients.close();
        const d: TestDaemon = await startDaemon({
          bridge: BRIDGE,
          subnet: SUBNET,
          dirs: daemon!.dirs,
        });
        daemon = d;
        const ms = servingMs(d.output());
        console.log(
          `restore after kill -9 with ${RESTORE_PODS} pods and ${RESTORE_PODS} running ` +
            `containers: ${ms} ms from daemon start to serving`,
        );
        assert.ok(Number.isFinite(ms), "the daemon logs its start-up time");
        const pods = (await call(d.clients.runtime, "ListPodSandbox", {})).items;
        assert.equal(pods.filter((p) => p.state === "SANDBOX_READY").length, RESTORE_PODS);
        const listed = (await call(d.clients.runtime, "ListContainers", {})).containers;
        assert.equal(listed.filter((c) => c.state === "CONTAINER_RUNNING").length, RESTORE_PODS);
        for (const [id, pid] of containers) {
          const { info } = await containerInfo(d, id);
          assert.equal(info.pid, pid, `container ${id} keeps its pid`);
          assert.ok(alive(pid));
        }
      });

      await t.step("removing every pod leaves the node clean", async () => {
        await removeAllPods(daemon!.clients);
        await assertNodeClean(daemon!.dirs, daemon!.pid, "after removing all pods");
      });
    } finally {
      await daemon?.cleanup();
    }
  },
});

testEachHolderMode({
  name: "SIGUSR1 sweeps garbage no record owns and leaves live pods and young traces alone",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t, mode) {
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it5/busybox");
      const d = daemon = await startDaemon({
        bridge: BRIDGE,
        subnet: SUBNET,
        dropInfraCtr: mode.dropInfraCtr,
      });
      const { root, runroot } = d.dirs;
      await call(d.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const pc = podConfig("live", "it5s");
      const podId = await runPod(d.clients, pc);
      const { container_id } = await call(d.clients.runtime, "CreateContainer", {
        pod_sandbox_id: podId,
        sandbox_config: pc,
        config: {
          metadata: { name: "main", attempt: 0 },
          image: { image },
          command: ["/bin/sleep", "3600"],
        },
      }, { deadlineMs: 60_000 });
      await call(d.clients.runtime, "StartContainer", { container_id });

      const hex = (c: string) => c.repeat(64);
      const orphanNetns = join(runroot, "netns", hex("a"));
      const orphanPodns = join(runroot, "podns", hex("f"));
      const oldSandboxDir = join(root, "sandboxes", hex("b"));
      const youngSandboxDir = join(root, "sandboxes", hex("c"));
      const oldContainerDir = join(root, "containers", hex("d"));
      const orphanRunc = hex("e");
      const runcRoot = join(runroot, "runc");
      const longAgo = new Date(Date.now() - 10 * 60_000);
      await t.step("plant garbage", async () => {
        // A pinned network namespace no sandbox owns (as a crashed RunPodSandbox leaves it).
        await Deno.writeTextFile(orphanNetns, "");
        const unshare = await new Deno.Command("unshare", {
          args: [`--net=${orphanNetns}`, "true"],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert.ok(unshare.success, new TextDecoder().decode(unshare.stderr));
        // Pinned IPC and UTS namespaces no sandbox owns (a crash before the record).
        await Deno.mkdir(orphanPodns, { recursive: true });
        for (const f of ["ipc", "uts"]) await Deno.writeTextFile(join(orphanPodns, f), "");
        const pinned = await new Deno.Command("unshare", {
          args: [
            `--ipc=${join(orphanPodns, "ipc")}`,
            `--uts=${join(orphanPodns, "uts")}`,
            "true",
          ],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert.ok(pinned.success, new TextDecoder().decode(pinned.stderr));
        await Deno.utime(orphanPodns, longAgo, longAgo);
        // Sandbox and container dirs without records, older than the 60 s minimum age.
        for (const dir of [oldSandboxDir, youngSandboxDir, join(oldContainerDir, "bundle")]) {
          await Deno.mkdir(dir, { recursive: true });
          await Deno.writeTextFile(join(dir, "leftover"), "x");
        }
        for (const path of [join(oldSandboxDir, "leftover"), oldSandboxDir]) {
          await Deno.utime(path, longAgo, longAgo);
        }
        for (const path of [join(oldContainerDir, "bundle"), oldContainerDir]) {
          await Deno.utime(path, longAgo, longAgo);
        }
        // A runc container in the daemon's runtime root that no record names.
        const bundle = await makeBundle(d.dirs.base, "orphan-bundle");
        const created = await new Deno.Command("runc", {
          args: ["--root", runcRoot, "create", "--bundle", bundle, orphanRunc],
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).output();
        assert.ok(created.success, `runc create of the orphan failed (${created.code})`);
        assert.ok((await listDir(runcRoot)).includes(orphanRunc));
        assert.ok((await mountsUnder(d.dirs.base)).includes(orphanNetns));
        assert.ok((await mountsUnder(d.dirs.base)).includes(join(orphanPodns, "uts")));
      });

      await t.step("SIGUSR1 removes the old garbage", async () => {
        const dones = () => d.output().split("\n").filter((l) => l.includes("Garbage sweep done"));
        const seen = dones().length;
        Deno.kill(d.pid, "SIGUSR1");
        const line = await waitFor("the on-demand sweep", () => {
          const all = dones();
          return Promise.resolve(all.length > seen ? all.at(-1) : undefined);
        });
        assert.match(line, /failed=0/, d.output().slice(-3000));
        assert.deepEqual(
          await listDir(join(runroot, "netns")),
          [podId],
          "the orphan netns is gone",
        );
        assert.ok(!(await mountsUnder(d.dirs.base)).includes(orphanNetns), "and unmounted");
        assert.ok(!(await exists(orphanPodns)), "the orphan pinned IPC/UTS namespaces are gone");
        assert.ok(
          !(await mountsUnder(d.dirs.base)).some((m) => m.startsWith(orphanPodns)),
          "and unmounted",
        );
        assert.ok(!(await exists(oldSandboxDir)), "the old sandbox dir is gone");
        assert.ok(!(await exists(oldContainerDir)), "the old container dir is gone");
        assert.ok(!(await listDir(runcRoot)).includes(orphanRunc), "the orphan runc state");
        assert.ok(await exists(youngSandboxDir), "a dir younger than 60 s stays");
      });

      await t.step("the live pod and its container are untouched", async () => {
        const pod = await call(d.clients.runtime, "PodSandboxStatus", { pod_sandbox_id: podId });
        assert.equal(pod.status!.state, "SANDBOX_READY");
        const { status, info } = await containerInfo(d, container_id);
        assert.equal(status.state, "CONTAINER_RUNNING");
        assert.ok(alive(info.pid));
        const res = await call(d.clients.runtime, "ExecSync", {
          container_id,
          cmd: ["/bin/echo", "alive"],
          timeout: 10,
        }, { deadlineMs: 30_000 });
        assert.equal(new TextDecoder().decode(res.stdout).trim(), "alive");
      });

      await t.step("a restart's sweep (no minimum age) takes the young dir too", async () => {
        await removeAllPods(d.clients);
        await Deno.remove(join(d.dirs.base, "orphan-bundle"), { recursive: true });
        await d.stop();
        d.clients.close();
        daemon = await startDaemon({
          bridge: BRIDGE,
          subnet: SUBNET,
          dirs: d.dirs,
          dropInfraCtr: mode.dropInfraCtr,
        });
        assert.ok(!(await exists(youngSandboxDir)));
        await assertNodeClean(daemon.dirs, daemon.pid, "after the restart");
      });
    } finally {
      await daemon?.cleanup();
    }
  },
});

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test({
  name: "sweep_interval sweeps garbage while serving, with no signal; young traces stay",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let daemon: TestDaemon | undefined;
    try {
      const d = daemon = await startDaemon({
        bridge: BRIDGE,
        subnet: SUBNET,
        noNetwork: true,
        config: "sweep_interval = 1\n",
      });
      const old = join(d.dirs.root, "containers", "9".repeat(64));
      const young = join(d.dirs.root, "containers", "8".repeat(64));
      for (const dir of [old, young]) {
        await Deno.mkdir(join(dir, "bundle"), { recursive: true });
      }
      const longAgo = new Date(Date.now() - 10 * 60_000);
      for (const path of [join(old, "bundle"), old]) await Deno.utime(path, longAgo, longAgo);
      const sweeps = () => d.output().split("\n").filter((l) => l.includes("Garbage sweep done"));
      const atStart = sweeps().length;
      await waitFor(
        "a sweep by the timer",
        () => Promise.resolve(sweeps().length > atStart ? true : undefined),
      );
      await waitFor(
        "the old container dir to go",
        async () => (await exists(old)) ? undefined : true,
      );
      assert.ok(await exists(young), "a dir younger than 60 s stays");
      assert.ok(!d.output().includes("Garbage sweep failed"), d.output().slice(-3000));
    } finally {
      await daemon?.cleanup();
    }
  },
});
