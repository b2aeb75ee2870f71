/**
 * The runtime's cleanup after an exit, against the real daemon with conmon and runc: once a
 * container's exit is recorded (StopContainer, or the process ending on its own), `runc state`
 * no longer knows it and its rootfs is unmounted, shortly after, while ContainerStatus,
 * ContainerStats and the RPCs an exited container refuses answer as before; RemoveContainer
 * and RemovePodSandbox still remove everything, whether that cleanup is still under way, done,
 * or never ran (the container exited while the daemon was down). A pod's infra container is
 * treated the same. Root only. Network: bridge "ocidt47", 10.234.47.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { grpcCode, listDir, pushBusybox, waitFor } from "../helpers/checks.ts";
import {
  makeTestDirs,
  mountsUnder,
  startDaemon,
  type TestDaemon,
  type TestDirs,
  testEachHolderMode,
} from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import { podConfig, runPod } from "./_node_state.ts";

const BRIDGE = "ocidt47";
const SUBNET = "10.234.47.0/24";
/** Polls in this suite end after 20 s. */
const WAIT = { timeoutMs: 20_000 };

/** What `runc state` says of `id` under the daemon's runtime root: its status, or "gone". */
async function runcStatus(dirs: TestDirs, id: string): Promise<string> {
  const out = await new Deno.Command("runc", {
    args: ["--root", join(dirs.runroot, "runc"), "state", id],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    if (/does not exist|not found/i.test(stderr)) return "gone";
    throw new Error(`runc state ${id} failed: ${stderr}`);
  }
  return (JSON.parse(new TextDecoder().decode(out.stdout)) as { status: string }).status;
}

/** Waits until runc no longer knows `id` and nothing is mounted below its container dir. */
async function waitCleanedUp(dirs: TestDirs, id: string): Promise<void> {
  await waitFor(`the runtime state and rootfs mount of ${id} to go`, async () => {
    if ((await runcStatus(dirs, id)) !== "gone") return undefined;
    const mounts = await mountsUnder(join(dirs.root, "containers", id));
    return mounts.length === 0 ? true : undefined;
  }, WAIT);
}

/** Asserts that nothing of container `id` is left: runtime state, mounts, dirs, files. */
async function assertContainerGone(dirs: TestDirs, id: string): Promise<void> {
  assert.equal(await runcStatus(dirs, id), "gone", "no runtime state");
  assert.deepEqual(await mountsUnder(join(dirs.root, "containers", id)), [], "no mounts");
  assert.ok(!(await listDir(join(dirs.root, "containers"))).includes(id), "no container dir");
  assert.ok(!(await listDir(join(dirs.root, "containers-meta"))).includes(id), "no record");
  assert.ok(!(await listDir(join(dirs.runroot, "exits"))).includes(id), "no exit file");
  assert.ok(!(await listDir(join(dirs.runroot, "socket"))).includes(id), "no socket dir");
}

interface Ctx {
  daemon: TestDaemon;
  image: string;
  pod: string;
  config: cri.PodSandboxConfigInit;
}

async function createStarted(ctx: Ctx, name: string, command: string[]): Promise<string> {
  const runtime = ctx.daemon.clients.runtime;
  const { container_id } = await call(runtime, "CreateContainer", {
    pod_sandbox_id: ctx.pod,
    sandbox_config: ctx.config,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: ctx.image },
      command,
      log_path: `${name}/0.log`,
    },
  }, { deadlineMs: 60_000 });
  await call(runtime, "StartContainer", { container_id });
  return container_id;
}

async function statusOf(ctx: Ctx, id: string): Promise<cri.ContainerStatusInit> {
  return (await call(ctx.daemon.clients.runtime, "ContainerStatus", { container_id: id })).status!;
}

async function waitExited(ctx: Ctx, id: string): Promise<cri.ContainerStatusInit> {
  return await waitFor(`${id} to exit`, async () => {
    const st = await statusOf(ctx, id);
    return st.state === "CONTAINER_EXITED" ? st : undefined;
  }, WAIT);
}

testEachHolderMode({
  name: "An exited container's runtime state and rootfs mount go at its exit, not at removal",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t, mode) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it47/busybox");
    const dirs = await makeTestDirs({ bridge: BRIDGE, subnet: SUBNET });
    const start = () =>
      startDaemon({ bridge: BRIDGE, subnet: SUBNET, dirs, dropInfraCtr: mode.dropInfraCtr });
    let daemon = await start();
    try {
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const config = podConfig("cleanup", "it47");
      const pod = await runPod(daemon.clients, config);
      const ctx: Ctx = { daemon, image, pod, config };
      const runtime = () => ctx.daemon.clients.runtime;

      await t.step("after StopContainer, runc forgets it and its rootfs is unmounted", async () => {
        const id = await createStarted(ctx, "stopped", ["/bin/sh", "-c", "sleep 3600"]);
        // 200 KiB in the writable layer, to see ContainerStats report it after the exit.
        await call(runtime(), "ExecSync", {
          container_id: id,
          cmd: ["/bin/sh", "-c", "head -c 204800 /dev/zero > /data"],
          timeout: 10,
        }, { deadlineMs: 30_000 });
        assert.equal(await runcStatus(dirs, id), "running");
        await call(runtime(), "StopContainer", { container_id: id, timeout: 0 });
        await waitCleanedUp(dirs, id);
        const st = await statusOf(ctx, id);
        assert.equal(st.state, "CONTAINER_EXITED");
        assert.equal(st.exit_code, 137);
        assert.equal(st.reason, "Error");
        assert.notEqual(st.finished_at, "0");
        const upper = join(dirs.root, "containers", id, "upper", "data");
        assert.equal((await Deno.stat(upper)).size, 204800, "the writable layer stays");

        const stats = (await call(runtime(), "ContainerStats", { container_id: id })).stats!;
        assert.equal(stats.attributes!.id, id);
        assert.ok(BigInt(stats.writable_layer?.used_bytes?.value ?? 0) >= 204800n);
        assert.ok(!stats.cpu, "no cgroup stats for an exited container");

        // An exited container refuses these with the same codes as before its cleanup.
        const refused = async (rpc: Promise<unknown>) => await grpcCode(rpc);
        const FP = grpc.status.FAILED_PRECONDITION;
        assert.equal(
          await refused(call(runtime(), "ExecSync", { container_id: id, cmd: ["true"] })),
          FP,
        );
        assert.equal(
          await refused(call(runtime(), "Exec", { container_id: id, cmd: ["sh"], stdout: true })),
          FP,
        );
        assert.equal(
          await refused(call(runtime(), "Attach", { container_id: id, stdout: true })),
          FP,
        );
        assert.equal(
          await refused(call(runtime(), "ReopenContainerLog", { container_id: id })),
          FP,
        );
        assert.equal(
          await refused(call(runtime(), "UpdateContainerResources", {
            container_id: id,
            linux: { cpu_shares: "512" },
          })),
          FP,
        );
        assert.equal(
          await refused(call(runtime(), "StartContainer", { container_id: id })),
          FP,
        );
        // StopContainer again: still a no-op.
        await call(runtime(), "StopContainer", { container_id: id, timeout: 0 });

        await call(runtime(), "RemoveContainer", { container_id: id });
        await assertContainerGone(dirs, id);
      });

      await t.step("a container exiting on its own, removed at once, leaves nothing", async () => {
        const id = await createStarted(ctx, "quick", ["/bin/sh", "-c", "exit 3"]);
        const st = await waitExited(ctx, id);
        assert.equal(st.exit_code, 3);
        // The cleanup may still be under way: RemoveContainer awaits it.
        await call(runtime(), "RemoveContainer", { container_id: id });
        await assertContainerGone(dirs, id);
      });

      await t.step(
        "a container that exited while ocid was down is cleaned up at start",
        async () => {
          const id = await createStarted(ctx, "later", ["/bin/sh", "-c", "sleep 2; exit 4"]);
          await ctx.daemon.stop();
          ctx.daemon.clients.close();
          await waitFor("the container to exit", async () => {
            const s = await runcStatus(dirs, id);
            return s === "stopped" ? true : undefined;
          }, WAIT);
          ctx.daemon = daemon = await start();
          await waitCleanedUp(dirs, id);
          const st = await statusOf(ctx, id);
          assert.equal(st.state, "CONTAINER_EXITED");
          assert.equal(st.exit_code, 4, "the exit code from conmon's exit file");
          await call(runtime(), "RemoveContainer", { container_id: id });
          await assertContainerGone(dirs, id);
        },
      );

      await t.step(
        "RemoveContainer after a restart (no cleanup pending) leaves nothing",
        async () => {
          const id = await createStarted(ctx, "restarted", ["/bin/sh", "-c", "exit 5"]);
          await waitExited(ctx, id);
          await waitCleanedUp(dirs, id);
          await ctx.daemon.stop();
          ctx.daemon.clients.close();
          ctx.daemon = daemon = await start();
          assert.equal((await statusOf(ctx, id)).exit_code, 5);
          await call(runtime(), "RemoveContainer", { container_id: id });
          await assertContainerGone(dirs, id);
        },
      );

      await t.step("the daemon's shutdown waits for the cleanups under way", async () => {
        const id = await createStarted(ctx, "shutdown", ["/bin/sh", "-c", "sleep 3600"]);
        await call(runtime(), "StopContainer", { container_id: id, timeout: 0 });
        const status = await ctx.daemon.stop();
        ctx.daemon.clients.close();
        assert.equal(status.code, 0, ctx.daemon.output().slice(-2000));
        assert.match(
          ctx.daemon.output(),
          new RegExp(`Cleaned up after an exit id=${id}`),
          "the cleanup ended before the daemon did",
        );
        assert.doesNotMatch(ctx.daemon.output(), /Uncaught|unhandled/i);
        assert.equal(await runcStatus(dirs, id), "gone");
        ctx.daemon = daemon = await start();
      });

      await t.step("StopPodSandbox and RemovePodSandbox: the pod leaves nothing", async () => {
        const id = await createStarted(ctx, "last", ["/bin/sh", "-c", "sleep 3600"]);
        await call(runtime(), "StopContainer", { container_id: id, timeout: 0 });
        await call(runtime(), "StopPodSandbox", { pod_sandbox_id: pod }, { deadlineMs: 60_000 });
        if (mode.infra) {
          // The infra container is cleaned up at its exit too.
          await waitFor("the infra container's runtime state to go", async () => {
            return (await runcStatus(dirs, pod)) === "gone" ? true : undefined;
          }, WAIT);
        }
        await call(runtime(), "RemovePodSandbox", { pod_sandbox_id: pod }, { deadlineMs: 60_000 });
        await assertContainerGone(dirs, id);
        assert.deepEqual(await listDir(join(dirs.runroot, "runc")), [], "no runtime state at all");
        assert.deepEqual(
          (await mountsUnder(dirs.base)).filter((m) => !/\/(netns|podns)$/.test(m)),
          [],
          "no mounts",
        );
        assert.doesNotMatch(ctx.daemon.output(), /Cannot clean up after an exit/);
      });
    } finally {
      await daemon.cleanup();
    }
  },
});
