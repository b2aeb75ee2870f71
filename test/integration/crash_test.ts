/**
 * Crash consistency: the daemon kills itself with SIGKILL at each crash point
 * (`OCID_TEST_HOOKS=1 OCID_CRASH_AT=<point>`, src/crash.ts) of PullImage, RunPodSandbox,
 * CreateContainer, StartContainer, StopPodSandbox and RemovePodSandbox, and of the cleanup after
 * a container's exit; the next start must repair the node: a half-made pod or container is gone
 * with its netns, mounts, IP, processes and dirs, a half-stopped or half-removed pod can be
 * stopped and removed without leaks, a container whose start crashed runs, an exited container
 * whose cleanup never ran is cleaned up, a crashed pull leaves no temp blob or partial layer.
 * Runs once per way pods hold their namespaces (pinned files, an infra container); the pull
 * points run in the first only, and a point of one way only is skipped in the other.
 * Root only. Network: bridge "ocidt6", 10.234.6.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { CRASH_POINTS } from "../../src/crash.ts";
import {
  type HolderMode,
  makeTestDirs,
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
  nodeState,
  podConfig,
  pushBusybox,
  removeAllPods,
  runPod,
  waitFor,
} from "./_node_state.ts";

const BRIDGE = "ocidt6";
const SUBNET = "10.234.6.0/24";

const RUN_POINTS = CRASH_POINTS.filter((p) => p.startsWith("sandbox_run:"));
/** Points only pods without an infra process pass. */
const PINNED_ONLY: readonly string[] = ["sandbox_run:before_pin"];
const pointsOf = (points: readonly string[], mode: HolderMode) =>
  mode.infra ? points.filter((p) => !PINNED_ONLY.includes(p)) : points;
const STOP_POINTS = CRASH_POINTS.filter((p) => p.startsWith("sandbox_stop:"));
const REMOVE_POINTS = CRASH_POINTS.filter((p) => p.startsWith("sandbox_remove:"));
const PULL_POINTS = CRASH_POINTS.filter((p) => p.startsWith("image_pull:"));
const CONTAINER_POINTS = CRASH_POINTS.filter((p) =>
  p.startsWith("container_create:") || p.startsWith("container_start:")
);
const EXIT_POINTS = CRASH_POINTS.filter((p) => p.startsWith("exit_cleanup:"));

/** What the image store holds: entries of its layers, blobs and tmp dirs. */
async function imageDirs(root: string) {
  const dir = join(root, "images");
  return {
    layers: await listDir(join(dir, "layers")),
    blobs: await listDir(join(dir, "blobs", "sha256")),
    tmp: await listDir(join(dir, "tmp")),
  };
}

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

testEachHolderMode({
  name: "kill -9 at every crash point of pulls, pods and containers: a restart repairs the node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t, mode) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it6/busybox");
    const dirs = await makeTestDirs({ bridge: BRIDGE, subnet: SUBNET });
    const start = (point?: string) =>
      startDaemon({
        bridge: BRIDGE,
        subnet: SUBNET,
        dirs,
        env: point ? { OCID_TEST_HOOKS: "1", OCID_CRASH_AT: point } : {},
        dropInfraCtr: mode.dropInfraCtr,
      });
    let daemon: TestDaemon | undefined;
    try {
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
      const pull = (d: TestDaemon) =>
        call(d.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });

      // Pulls do not depend on how pods hold their namespaces: once is enough.
      for (const point of mode.infra ? [] : PULL_POINTS) {
        await t.step(`PullImage crashing at ${point}`, () =>
          stopAfter(async () => {
            daemon = await start(point);
            await expectCrash(daemon, pull(daemon), point);
            const crashed = await imageDirs(dirs.root);
            if (point === "image_pull:mid_blob") {
              assert.equal(crashed.tmp.length, 1, "a partial layer blob is in tmp at the crash");
              const size = (await Deno.stat(join(dirs.root, "images", "tmp", crashed.tmp[0]!)))
                .size;
              assert.ok(size > 0, "the partial blob has bytes");
            }
            if (point === "image_pull:after_blob") {
              assert.ok(crashed.layers.some((l) => l.startsWith(".tmp-")), "a layer being built");
            }
            daemon = await start();
            const listed = (await call(daemon.clients.image, "ListImages", {})).images;
            const repaired = await imageDirs(dirs.root);
            if (point === "image_pull:after_record") {
              assert.deepEqual(listed.map((i) => i.repo_tags), [[image]], "the image is whole");
              assert.equal(repaired.layers.length, 1, "its one layer");
              assert.equal(repaired.blobs.length, 2, "its config and manifest");
              assert.deepEqual(repaired.tmp, []);
            } else {
              assert.deepEqual(listed, [], "no image record");
              assert.deepEqual(repaired, { layers: [], blobs: [], tmp: [] }, "nothing half-pulled");
            }
            const { image_ref } = await pull(daemon);
            assert.match(image_ref, /^sha256:[0-9a-f]{64}$/);
            const pulled = await imageDirs(dirs.root);
            assert.equal(pulled.layers.length, 1);
            assert.equal(pulled.blobs.length, 2);
            assert.deepEqual(pulled.tmp, []);
            await call(daemon.clients.image, "RemoveImage", { image: { image } });
            assert.deepEqual(await imageDirs(dirs.root), { layers: [], blobs: [], tmp: [] });
          }));
      }

      daemon = await start();
      await pull(daemon);
      await daemon.stop();
      daemon.clients.close();
      for (const point of pointsOf(RUN_POINTS, mode)) {
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

      for (const point of CONTAINER_POINTS) {
        await t.step(`a container crashing at ${point}`, () =>
          stopAfter(async () => {
            daemon = await start(point);
            const pc = podConfig("crash3", "it6");
            const podId = await runPod(daemon.clients, pc);
            const before = await nodeState(dirs, daemon.pid);
            const create = (d: TestDaemon) =>
              call(d.clients.runtime, "CreateContainer", {
                pod_sandbox_id: podId,
                sandbox_config: pc,
                config: {
                  metadata: { name: "c", attempt: 0 },
                  image: { image },
                  command: ["/bin/sleep", "3600"],
                  log_path: "c/0.log",
                  // An image volume too: a crash leaves its overlay mounted beside the rootfs.
                  mounts: [{ container_path: "/vol", image: { image }, readonly: true }],
                },
              }, { deadlineMs: 60_000 });
            if (point.startsWith("container_create:")) {
              await expectCrash(daemon, create(daemon), point);
            } else {
              const { container_id } = await create(daemon);
              const rpc = call(daemon.clients.runtime, "StartContainer", { container_id });
              await expectCrash(daemon, rpc, point);
            }
            const d = daemon = await start();
            const { runtime } = d.clients;
            const pods = (await call(runtime, "ListPodSandbox", {})).items;
            assert.deepEqual(pods.map((p) => [p.id, p.state]), [[podId, "SANDBOX_READY"]]);
            const listed = (await call(runtime, "ListContainers", {})).containers;
            let id: string;
            if (point === "container_start:after_start") {
              // runc started it; recovery reconciles the CREATED record with `runc state`.
              assert.deepEqual(listed.map((c) => c.state), ["CONTAINER_RUNNING"]);
              id = listed[0]!.id;
            } else if (
              point === "container_create:after_record" || point === "container_start:before_start"
            ) {
              assert.deepEqual(listed.map((c) => c.state), ["CONTAINER_CREATED"]);
              id = listed[0]!.id;
              await call(runtime, "StartContainer", { container_id: id });
            } else {
              assert.deepEqual(listed, [], "the half-made container is rolled back");
              assert.deepEqual(
                await nodeState(dirs, d.pid),
                before,
                "nothing of the half-made container is left",
              );
              id = (await create(d)).container_id; // the name is free again
              await call(runtime, "StartContainer", { container_id: id });
            }
            const st = await call(runtime, "ContainerStatus", { container_id: id, verbose: true });
            assert.equal(st.status!.state, "CONTAINER_RUNNING");
            const pid = (JSON.parse(st.info.info ?? "{}") as { pid?: number }).pid ?? 0;
            assert.ok(pid > 0 && alive(pid), `the container's process ${pid} runs`);
            const res = await call(runtime, "ExecSync", {
              container_id: id,
              cmd: ["/bin/echo", "ok"],
              timeout: 10,
            }, { deadlineMs: 30_000 });
            assert.equal(new TextDecoder().decode(res.stdout).trim(), "ok");
            await removeAllPods(d.clients);
            await assertNodeClean(dirs, d.pid, `after a crash at ${point}`);
          }));
      }

      for (const point of EXIT_POINTS) {
        await t.step(`a container's exit, crashing at ${point}`, () =>
          stopAfter(async () => {
            daemon = await start(point);
            await withContainer(daemon, image, "crash4");
            const [c] = (await call(daemon.clients.runtime, "ListContainers", {})).containers;
            const id = c!.id;
            const rpc = call(daemon.clients.runtime, "StopContainer", {
              container_id: id,
              timeout: 0,
            });
            await expectCrash(daemon, rpc, point);
            const rootfsMounts = () => mountsUnder(join(dirs.root, "containers", id));
            assert.ok((await listDir(join(dirs.runroot, "runc"))).includes(id), "runtime state");
            // The rootfs's unmount runs beside the runtime's delete: only a crash before both
            // leaves it mounted for sure.
            if (point === "exit_cleanup:before_delete") {
              assert.equal((await rootfsMounts()).length, 1, "the rootfs is still mounted");
            }
            const d = daemon = await start();
            const st = await call(d.clients.runtime, "ContainerStatus", { container_id: id });
            assert.equal(st.status!.state, "CONTAINER_EXITED", "the exit was recorded");
            assert.equal(st.status!.exit_code, 137);
            await waitFor("recovery to clean up after the exit", async () => {
              const left = (await listDir(join(dirs.runroot, "runc"))).includes(id);
              return !left && (await rootfsMounts()).length === 0 ? true : undefined;
            }, { timeoutMs: 20_000 });
            await removeAllPods(d.clients);
            await assertNodeClean(dirs, d.pid, `after a crash at ${point}`);
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
