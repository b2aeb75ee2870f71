/**
 * Crash consistency: the daemon kills itself with SIGKILL at each crash point
 * (`OCID_TEST_HOOKS=1 OCID_CRASH_AT=<point>`, src/crash.ts) of RunPodSandbox, StopPodSandbox
 * and RemovePodSandbox; the next start must repair the node: a half-made pod is gone with its
 * netns, mounts, IP, processes and dirs, a half-stopped or half-removed one can be stopped and
 * removed without leaks. Root only. Network: bridge "ocidt6", 10.234.6.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { CRASH_POINTS } from "../../src/crash.ts";
import { makeTestDirs, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import { assertNodeClean, podConfig, pushBusybox, removeAllPods, runPod } from "./_node_state.ts";

const BRIDGE = "ocidt6";
const SUBNET = "10.234.6.0/24";

const RUN_POINTS = CRASH_POINTS.filter((p) => p.startsWith("sandbox_run:"));
const STOP_POINTS = CRASH_POINTS.filter((p) => p.startsWith("sandbox_stop:"));
const REMOVE_POINTS = CRASH_POINTS.filter((p) => p.startsWith("sandbox_remove:"));

async function expectCrash(daemon: TestDaemon, rpc: Promise<unknown>, point: string) {
  const outcome = await rpc.then(() => "answered", (err) => `failed: ${err}`);
  const status = await daemon.process.status;
  assert.equal(
    status.signal,
    "SIGKILL",
    `the daemon should have crashed at ${point} (the RPC ${outcome})\n${
      daemon.output().slice(-3000)
    }`,
  );
  assert.match(daemon.output(), new RegExp(`crash hook: SIGKILL at "${point}"`));
  daemon.clients.close();
}

async function withContainer(daemon: TestDaemon, image: string, name: string) {
  const pc = podConfig(name, "it6");
  const podId = await runPod(daemon.clients, pc);
  const cfg: cri.ContainerConfigInit = {
    metadata: { name: "c", attempt: 0 },
    image: { image },
    command: ["/bin/sleep", "3600"],
    log_path: "c/0.log",
  };
  const { container_id } = await call(daemon.clients.runtime, "CreateContainer", {
    pod_sandbox_id: podId,
    sandbox_config: pc,
    config: cfg,
  }, { deadlineMs: 60_000 });
  await call(daemon.clients.runtime, "StartContainer", { container_id });
  return podId;
}

Deno.test({
  name: "kill -9 at every crash point of Run/Stop/RemovePodSandbox: a restart repairs the node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it6/busybox");
    const dirs = await makeTestDirs({ bridge: BRIDGE, subnet: SUBNET });
    const start = (point?: string) =>
      startDaemon({
        bridge: BRIDGE,
        subnet: SUBNET,
        dirs,
        env: point ? { OCID_TEST_HOOKS: "1", OCID_CRASH_AT: point } : {},
      });
    let daemon: TestDaemon | undefined;
    try {
      daemon = await start();
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      await daemon.stop();
      daemon.clients.close();

      const stopAfter = async (fn: () => Promise<void>) => {
        try {
          await fn();
        } finally {
          if (daemon) {
            await daemon.stop().catch(() => {});
            daemon.clients.close();
          }
        }
      };
      for (const point of RUN_POINTS) {
        await t.step(`RunPodSandbox crashing at ${point}`, () =>
          stopAfter(async () => {
            daemon = await start(point);
            await expectCrash(daemon, runPod(daemon.clients, podConfig("crash", "it6")), point);
            daemon = await start();
            const pods = (await call(daemon.clients.runtime, "ListPodSandbox", {})).items;
            if (point === "sandbox_run:after_record") {
              // The record was written: the pod exists and is whole.
              assert.equal(pods.length, 1);
              assert.equal(pods[0]!.state, "SANDBOX_READY");
              await removeAllPods(daemon.clients);
            } else {
              assert.deepEqual(pods, [], "a half-made pod is rolled back");
            }
            await assertNodeClean(dirs, daemon.pid, `after a crash at ${point}`);
            const again = await runPod(daemon.clients, podConfig("crash", "it6"));
            assert.match(again, /^[0-9a-f]{64}$/, "the name is free again");
            await removeAllPods(daemon.clients);
          }));
      }

      for (const point of [...STOP_POINTS, ...REMOVE_POINTS]) {
        await t.step(`a pod with a container, crashing at ${point}`, () =>
          stopAfter(async () => {
            daemon = await start(point);
            const podId = await withContainer(daemon, image, "crash2");
            const rpc = point.startsWith("sandbox_stop:")
              ? call(daemon.clients.runtime, "StopPodSandbox", { pod_sandbox_id: podId })
              : call(daemon.clients.runtime, "RemovePodSandbox", { pod_sandbox_id: podId });
            await expectCrash(daemon, rpc, point);
            daemon = await start();
            const pods = (await call(daemon.clients.runtime, "ListPodSandbox", {})).items;
            if (point === "sandbox_remove:after_record") {
              assert.deepEqual(pods, [], "the record was deleted before the crash");
            } else {
              assert.equal(pods.length, 1);
              if (point !== "sandbox_stop:after_containers") {
                assert.equal(pods[0]!.state, "SANDBOX_NOTREADY", "the infra is gone");
              }
            }
            await removeAllPods(daemon.clients);
            await assertNodeClean(dirs, daemon.pid, `after a crash at ${point}`);
          }));
      }
      await t.step("no daemon output reports a failed sweep", () => {
        assert.doesNotMatch(daemon!.output(), /Cannot remove garbage/);
      });
    } finally {
      if (daemon) await daemon.cleanup();
      else await Deno.remove(join(dirs.base), { recursive: true }).catch(() => {});
    }
  },
});
