/**
 * What a kubelet and critest expect of the handlers, checked against fakes: idempotent stop and
 * remove of unknown IDs, NOT_FOUND for the status of unknown IDs, list filters that combine and
 * never fail on a prefix, and the image names ContainerStatus and ListContainers report.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as cri from "../../../src/cri/types.ts";
import { NotFoundError } from "../../../src/errors.ts";
import { containerStatus } from "../../../src/server/container_status.ts";
import { listContainers } from "../../../src/server/container_list.ts";
import { stopContainer } from "../../../src/server/container_stop.ts";
import { removeContainer } from "../../../src/server/container_remove.ts";
import { listPodSandbox } from "../../../src/server/sandbox_list.ts";
import { podSandboxStatus } from "../../../src/server/sandbox_status.ts";
import { nowNs } from "../../../src/server/time.ts";
import { stopPodSandbox } from "../../../src/server/sandbox_stop.ts";
import { removePodSandbox } from "../../../src/server/sandbox_remove.ts";
import { imageStatus } from "../../../src/server/image_status.ts";
import { version } from "../../../src/server/version.ts";
import { newContainerStatus } from "../../../src/store/container.ts";
import type { Deps } from "../../../src/server/deps.ts";
import { addContainerRecord, addSandbox, decode, type TestDeps, testDeps } from "./_fakes.ts";

const UNKNOWN = "0123456789abcdef".repeat(4);

async function withDeps(fn: (deps: TestDeps) => Promise<void>): Promise<void> {
  const deps = await testDeps();
  try {
    await fn(deps);
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
}

/** Adds a container whose request named the image `imageRef` (and `userSpecified`). */
async function addWithImage(
  deps: TestDeps,
  options: { id: string; sandboxId: string; imageRef: string; userSpecified?: string },
): Promise<void> {
  const config = decode<cri.CreateContainerRequest>("CreateContainer", {
    config: {
      metadata: { name: options.id.slice(0, 6), attempt: 0 },
      image: { image: options.imageRef, user_specified_image: options.userSpecified ?? "" },
    },
  }).config!;
  await deps.containers.add({
    id: options.id,
    name: `k8s_${options.id.slice(0, 6)}_pod_ns_uid_0`,
    metadata: {
      sandboxId: options.sandboxId,
      config,
      imageRef: options.imageRef,
      imageId: deps.fakeImages.image.id,
      logPath: join(deps.dir, "logs", `${options.id}.log`),
      bundle: join(deps.config.root, "containers", options.id, "bundle"),
      createdAt: "2",
    },
    status: newContainerStatus(),
  });
}

Deno.test("stopContainer() of an unknown ID succeeds and runs nothing", async () => {
  await withDeps(async (deps) => {
    const res = await stopContainer(deps, decode("StopContainer", { container_id: UNKNOWN }));
    assert.deepEqual(res, {});
    assert.deepEqual(deps.fakeRuntime.calls, []);
  });
});

Deno.test("stopContainer() twice of an exited container succeeds", async () => {
  await withDeps(async (deps) => {
    const pod = await addSandbox(deps);
    await addContainerRecord(deps, {
      id: "e".repeat(64),
      sandboxId: pod,
      name: "done",
      state: "CONTAINER_EXITED",
    });
    const req = decode<cri.StopContainerRequest>("StopContainer", {
      container_id: "e".repeat(64),
      timeout: 1,
    });
    await stopContainer(deps, req);
    await stopContainer(deps, req);
    assert.deepEqual(deps.fakeRuntime.calls, [], "an exited container gets no signal");
  });
});

Deno.test("removeContainer(), stopPodSandbox() and removePodSandbox() of unknown IDs succeed", async () => {
  await withDeps(async (deps) => {
    assert.deepEqual(
      await removeContainer(deps, decode("RemoveContainer", { container_id: UNKNOWN })),
      {},
    );
    assert.deepEqual(
      await stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: UNKNOWN })),
      {},
    );
    assert.deepEqual(
      await removePodSandbox(deps, decode("RemovePodSandbox", { pod_sandbox_id: UNKNOWN })),
      {},
    );
  });
});

Deno.test("containerStatus() and podSandboxStatus() of unknown IDs are NOT_FOUND", async () => {
  await withDeps(async (deps) => {
    await assert.rejects(
      containerStatus(deps, { container_id: UNKNOWN, verbose: false }),
      (err) => err instanceof NotFoundError && err.code === "NOT_FOUND",
    );
    await assert.rejects(
      // The handler throws before it returns a promise; instrument() catches both ways.
      (async () => await podSandboxStatus(deps, { pod_sandbox_id: UNKNOWN, verbose: false }))(),
      (err) => err instanceof NotFoundError && err.code === "NOT_FOUND",
    );
  });
});

Deno.test("podSandboxStatus() gives its containers' statuses and a timestamp (evented PLEG)", async () => {
  await withDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const other = await addSandbox(deps, { name: "other" });
    const before = BigInt(nowNs());
    const empty = await podSandboxStatus(deps, { pod_sandbox_id: pod, verbose: false });
    assert.deepEqual(empty.containers_statuses, []);
    assert.ok(BigInt(empty.timestamp!) >= before, "timestamp in ns, taken now");
    assert.deepEqual(empty.info, {}, "info only when verbose");
    const c = "c".repeat(64);
    await addContainerRecord(deps, { id: c, sandboxId: pod, name: "here" });
    await addContainerRecord(deps, { id: "d".repeat(64), sandboxId: other, name: "elsewhere" });
    const res = await podSandboxStatus(deps, { pod_sandbox_id: pod, verbose: false });
    assert.deepEqual(res.containers_statuses!.map((s) => s.id), [c]);
    const single = await containerStatus(deps, { container_id: c, verbose: false });
    assert.deepEqual(res.containers_statuses![0], single.status, "the same as ContainerStatus");
  });
});

Deno.test("podSandboxStatus() reports no IP once StopPodSandbox tore the network down", async (t) => {
  for (const holder of ["infra", "pinned"] as const) {
    await t.step(
      `a pod held by ${holder === "infra" ? "an infra container" : "pinned files"}`,
      () =>
        withDeps(async (deps) => {
          const torn: string[] = [];
          deps.network = {
            tearDown: (req: { netnsPath: string }) =>
              Promise.resolve(void torn.push(req.netnsPath)),
          } as unknown as Deps["network"];
          deps.netns = { remove: () => Promise.resolve() } as unknown as Deps["netns"];
          const pod = await addSandbox(deps, { name: holder, holder });
          await deps.sandboxes.update(pod, (s) => ({ ...s, ips: ["10.234.4.9", "fd00::9"] }));
          // The infra process ends on SIGTERM.
          const kill = deps.fakeRuntime.kill.bind(deps.fakeRuntime);
          deps.fakeRuntime.kill = async (id: string, signal: string, opts?: unknown) => {
            await kill(id, signal, opts);
            deps.exits.deliver(id, { exitCode: 0, finishedAt: new Date() });
          };
          const status = async () =>
            (await podSandboxStatus(deps, { pod_sandbox_id: pod, verbose: false })).status!;
          const ready = await status();
          assert.equal(ready.network?.ip, "10.234.4.9");
          assert.deepEqual(ready.network?.additional_ips, [{ ip: "fd00::9" }]);

          await stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: pod }));
          const stopped = await status();
          assert.equal(stopped.state, "SANDBOX_NOTREADY");
          assert.equal(torn.length, 1, "CNI DEL ran");
          assert.equal(stopped.network?.ip, "", "no IP once the netns is gone, as containerd");
          assert.deepEqual(stopped.network?.additional_ips, []);
        }),
    );
  }
});

Deno.test("listPodSandbox() filters by ID prefix, state and labels, combined", async (t) => {
  await withDeps(async (deps) => {
    const a = await addSandbox(deps, { id: "aa1" + "0".repeat(61), name: "a" });
    const b = await addSandbox(deps, { id: "aa2" + "0".repeat(61), name: "b", ready: false });
    const c = await addSandbox(deps, { id: "bb1" + "0".repeat(61), name: "c" });
    const list = async (filter: cri.PodSandboxFilterInit | null) =>
      (await listPodSandbox(deps, decode("ListPodSandbox", { filter }))).items!.map((i) => i.id)
        .sort();

    await t.step("an ambiguous prefix lists every match instead of failing", async () => {
      assert.deepEqual(await list({ id: "aa" }), [a, b]);
    });
    await t.step("a full ID lists that sandbox", async () => {
      assert.deepEqual(await list({ id: c }), [c]);
    });
    await t.step("prefix and state combine", async () => {
      assert.deepEqual(await list({ id: "aa", state: { state: "SANDBOX_READY" } }), [a]);
    });
    await t.step("prefix and labels combine (no label matches)", async () => {
      assert.deepEqual(await list({ id: "aa", label_selector: { x: "y" } }), []);
    });
    await t.step("an unknown prefix lists nothing", async () => {
      assert.deepEqual(await list({ id: "ff" }), []);
    });
  });
});

Deno.test("containerStatus() reports a repo tag when the request named the image by ID", async (t) => {
  await withDeps(async (deps) => {
    const pod = await addSandbox(deps);
    const image = deps.fakeImages.image;
    const byId = "1".repeat(64);
    const byName = "2".repeat(64);
    await addWithImage(deps, {
      id: byId,
      sandboxId: pod,
      imageRef: image.id,
      userSpecified: "busybox",
    });
    await addWithImage(deps, { id: byName, sandboxId: pod, imageRef: "busybox:latest" });

    await t.step("by ID: image.image is the first repo tag, the ID stays in image_id", async () => {
      const st = (await containerStatus(deps, { container_id: byId, verbose: false })).status!;
      assert.equal(st.image!.image, image.repoTags[0]);
      assert.equal(st.image!.user_specified_image, "busybox");
      assert.equal(st.image_id, image.id);
      assert.equal(st.image_ref, image.repoDigests[0]);
    });
    await t.step("by name: image.image is the name as requested", async () => {
      const st = (await containerStatus(deps, { container_id: byName, verbose: false })).status!;
      assert.equal(st.image!.image, "busybox:latest");
    });
    await t.step("ListContainers reports the same image fields", async () => {
      const res = await listContainers(deps, decode("ListContainers", { filter: { id: byId } }));
      const c = res.containers![0]!;
      assert.equal(c.image!.image, image.repoTags[0]);
      assert.equal(c.image!.user_specified_image, "busybox");
      assert.equal(c.image_id, image.id);
    });
    await t.step("a fresh container: times 0, exit code 0, absolute log path", async () => {
      const st = (await containerStatus(deps, { container_id: byName, verbose: false })).status!;
      assert.equal(st.state, "CONTAINER_CREATED");
      assert.equal(st.started_at, "0");
      assert.equal(st.finished_at, "0");
      assert.equal(st.exit_code, 0);
      assert.ok(st.log_path!.startsWith("/"), `log_path ${st.log_path}`);
    });
  });
});

Deno.test("imageStatus() of an unknown image is an empty response", async () => {
  await withDeps(async (deps) => {
    const res = await imageStatus(deps, { image: { image: "nothere:1" }, verbose: false } as never);
    assert.deepEqual(res, {});
  });
});

Deno.test("version() answers the CRI Version API version 0.1.0 and runtime API v1", async () => {
  const res = await version(undefined, { version: "0.1.0" });
  assert.equal(res.version, "0.1.0");
  assert.equal(res.runtime_name, "ocid");
  assert.ok(res.runtime_version);
  assert.equal(res.runtime_api_version, "v1");
});
