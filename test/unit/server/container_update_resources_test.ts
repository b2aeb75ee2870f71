/**
 * UpdateContainerResources fits kubelet's resources to the host's cgroups as CreateContainer
 * does: runc update fails the same way on a hugepage limit it cannot set. A refused update
 * leaves the container's resources as they were.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as cri from "../../../src/cri/types.ts";
import { updateContainerResources } from "../../../src/server/container_update_resources.ts";
import { addContainerRecord, addSandbox, decode, testDeps, withTestDeps } from "./_fakes.ts";
import { FailedPreconditionError, NotFoundError } from "../../../src/errors.ts";
import { removeContainer } from "../../../src/server/container_remove.ts";
import { OciRuntimeError } from "../../../src/oci/runtime_error.ts";

const ID = "d".repeat(64);

/** A running container `ID` in a pod, its bundle's config.json `spec`; returns the bundle. */
async function runningContainer(
  deps: Awaited<ReturnType<typeof testDeps>>,
  spec: string,
  linux?: Record<string, unknown>,
): Promise<string> {
  const pod = await addSandbox(deps);
  await addContainerRecord(deps, {
    id: ID,
    sandboxId: pod,
    name: "app",
    state: "CONTAINER_RUNNING",
    ...(linux ? { linux } : {}),
  });
  const bundle = deps.containers.get(ID).metadata.bundle;
  await Deno.mkdir(bundle, { recursive: true });
  await Deno.writeTextFile(join(bundle, "config.json"), spec);
  return bundle;
}

Deno.test("updateContainerResources() drops hugepage limits and unified keys a v1 host cannot take", async () => {
  const deps = await testDeps();
  try {
    deps.cgroupSupport = {
      mode: "v1",
      controllers: ["cpu", "cpuset", "memory", "pids"],
      hugePageSizes: [],
      cpuRealtime: false,
      memorySwap: true,
    };
    await runningContainer(deps, JSON.stringify({ linux: {} }));
    const req = decode<cri.UpdateContainerResourcesRequest>("UpdateContainerResources", {
      container_id: ID,
      linux: {
        cpu_shares: 2,
        cpu_period: 100000,
        hugepage_limits: [{ page_size: "2MB", limit: 0 }],
        unified: { "memory.oom.group": "1" },
      },
    });
    await updateContainerResources(deps, req);
    const call = deps.fakeRuntime.calls.find((c) => c.verb === "updateResources")!;
    assert.deepEqual(call.args[0], { cpu: { shares: 2, period: 100000 } });
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("updateContainerResources() refused by the runtime gives the old resources back; a memory limit below usage is FAILED_PRECONDITION", async () => {
  const deps = await testDeps();
  try {
    const old = { cpu: { shares: 1024, cpus: "0-1" }, memory: { limit: 64 << 20 } };
    const spec = JSON.stringify({ linux: { resources: old } });
    const bundle = await runningContainer(deps, spec);
    const statusBefore = deps.containers.get(ID).status;
    const refusals = [
      new OciRuntimeError({
        runtime: "runc",
        verb: "update",
        id: ID,
        stderr: 'time="x" level=error msg="unable to set memory limit to 16777216 (current ' +
          'usage: 42274816, peak usage: 43814912)"\n',
      }),
      new OciRuntimeError({ runtime: "runc", verb: "update", id: ID, stderr: "other failure" }),
    ];
    for (const refusal of refusals) {
      const sent: unknown[] = [];
      deps.fakeRuntime.updateResources = (_id: string, resources: unknown) => {
        sent.push(resources);
        return sent.length === 1 ? Promise.reject(refusal) : Promise.resolve();
      };
      const req = decode<cri.UpdateContainerResourcesRequest>("UpdateContainerResources", {
        container_id: ID,
        linux: { cpuset_cpus: "0", memory_limit_in_bytes: 16 << 20 },
      });
      const err = await updateContainerResources(deps, req).then(() => undefined, (e) => e);
      if (refusal.stderr.includes("memory limit")) {
        assert.ok(err instanceof FailedPreconditionError, String(err));
        assert.match(
          err.message,
          /memory limit of container "d+" to 16777216 bytes: it uses 42274816 bytes/,
        );
      } else {
        assert.equal(err, refusal);
      }
      assert.equal(sent.length, 2);
      assert.deepEqual(sent[1], old, "the old resources are given back");
      assert.equal(await Deno.readTextFile(join(bundle, "config.json")), spec);
      assert.deepEqual(deps.containers.get(ID).status, statusBefore);
    }
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("updateContainerResources() merges: fields the request leaves 0 or empty keep their values (the kubelet's CPU manager sends only cpuset_cpus)", async () => {
  const deps = await testDeps();
  try {
    const created = {
      cpu: { shares: 512, quota: 50000, period: 100000 },
      memory: { limit: 128 << 20 },
    };
    const bundle = await runningContainer(
      deps,
      JSON.stringify({ linux: { resources: created } }),
      {
        resources: {
          cpu_shares: 512,
          cpu_quota: 50000,
          cpu_period: 100000,
          memory_limit_in_bytes: 128 << 20,
          oom_score_adj: 100,
          unified: { "memory.high": "100000000" },
        },
      },
    );
    const update = (linux: Record<string, unknown>) =>
      updateContainerResources(
        deps,
        decode<cri.UpdateContainerResourcesRequest>("UpdateContainerResources", {
          container_id: ID,
          linux,
        }),
      );

    await update({ cpuset_cpus: "0" });
    let status = deps.containers.get(ID).status.resources!;
    assert.equal(status.cpuset_cpus, "0");
    assert.equal(status.memory_limit_in_bytes, String(128 << 20));
    assert.equal(status.cpu_shares, "512");
    assert.equal(status.cpu_quota, "50000");
    assert.equal(status.oom_score_adj, "100", "not updatable: kept");
    let spec = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
    assert.equal(spec.linux.resources.memory.limit, 128 << 20);
    assert.equal(spec.linux.resources.cpu.shares, 512);
    assert.equal(spec.linux.resources.cpu.cpus, "0");

    // A second partial update keeps the first one's cpuset; unified keys merge by key.
    await update({ memory_limit_in_bytes: 256 << 20, unified: { "memory.low": "1" } });
    status = deps.containers.get(ID).status.resources!;
    assert.equal(status.cpuset_cpus, "0");
    assert.equal(status.memory_limit_in_bytes, String(256 << 20));
    assert.equal(status.cpu_shares, "512");
    assert.deepEqual(status.unified, { "memory.high": "100000000", "memory.low": "1" });
    spec = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
    assert.equal(spec.linux.resources.memory.limit, 256 << 20);
    assert.equal(spec.linux.resources.cpu.cpus, "0");
    const sent = deps.fakeRuntime.calls.filter((c) => c.verb === "updateResources");
    assert.equal(sent.length, 2);
    assert.deepEqual(
      (sent[1]!.args[0] as { cpu: unknown }).cpu,
      { shares: 512, quota: 50000, period: 100000, cpus: "0" },
    );
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("updateContainerResources() racing RemoveContainer: the removal waits for the update, and a later update is NOT_FOUND (never INTERNAL)", async () => {
  await withTestDeps(async (deps) => {
    await runningContainer(deps, JSON.stringify({ linux: {} }));
    // The runtime's update takes a while: the removal arrives during it.
    const { promise: updating, resolve: updateStarted } = Promise.withResolvers<void>();
    const { promise: gate, resolve: open } = Promise.withResolvers<void>();
    const record = deps.fakeRuntime.updateResources.bind(deps.fakeRuntime);
    deps.fakeRuntime.updateResources = async (id: string, resources: unknown) => {
      updateStarted();
      await gate;
      return record(id, resources);
    };
    const req = decode<cri.UpdateContainerResourcesRequest>("UpdateContainerResources", {
      container_id: ID,
      linux: { cpu_shares: 512 },
    });
    // The container ends as soon as it is killed.
    const kill = deps.fakeRuntime.kill.bind(deps.fakeRuntime);
    deps.fakeRuntime.kill = async (id: string, signal: string, opts?: unknown) => {
      await kill(id, signal, opts);
      deps.exits.deliver(id, { exitCode: 137, finishedAt: new Date() });
    };
    const update = updateContainerResources(deps, req);
    await updating;
    const remove = removeContainer(deps, { container_id: ID });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(deps.fakeRuntime.verbs(), [], "the removal waits for the update under way");
    open();
    await update;
    await remove;
    assert.deepEqual(deps.fakeRuntime.verbs().slice(0, 2), ["updateResources", "kill"]);
    assert.equal(deps.containers.has(ID), false);
    await assert.rejects(updateContainerResources(deps, req), NotFoundError);
  });
});
