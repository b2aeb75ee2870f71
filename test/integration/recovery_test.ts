/**
 * Restart recovery against the real daemon: pods with running containers survive `kill -9`
 * of ocid and a restart with the same IDs, states, IPs, PIDs and logs; a container that exits
 * while ocid is down reports its exit code afterwards. Root only. Network: bridge "ocidt5",
 * 10.234.5.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  alive,
  assertNodeClean,
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

Deno.test({
  name: "Pods and containers survive kill -9 of ocid and a restart; exits while down are seen",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const hostDir = await Deno.makeTempDir({ prefix: "ocid-it5-trigger-" });
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it5/busybox");
      daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
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
        });
        daemon = d;
        console.log(`restore with ${PODS} pods: ${servingMs(d.output())} ms to serving`);
        const pods = (await call(d.clients.runtime, "ListPodSandbox", {})).items;
        assert.deepEqual(pods.map((p) => p.id).sort(), seen.map((s) => s.podId).sort());
        for (const [i, s] of seen.entries()) {
          const pod = await call(d.clients.runtime, "PodSandboxStatus", {
            pod_sandbox_id: s.podId,
          });
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
