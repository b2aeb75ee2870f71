/**
 * UpdateContainerResources fits kubelet's resources to the host's cgroups as CreateContainer
 * does: runc update fails the same way on a hugepage limit it cannot set.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as cri from "../../../src/cri/types.ts";
import { updateContainerResources } from "../../../src/server/container_update_resources.ts";
import { addContainerRecord, addSandbox, decode, testDeps } from "./_fakes.ts";

const ID = "d".repeat(64);

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
    const pod = await addSandbox(deps);
    await addContainerRecord(deps, {
      id: ID,
      sandboxId: pod,
      name: "app",
      state: "CONTAINER_RUNNING",
    });
    const bundle = deps.containers.get(ID).metadata.bundle;
    await Deno.mkdir(bundle, { recursive: true });
    await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify({ linux: {} }));
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
