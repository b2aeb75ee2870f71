/**
 * RunPodSandbox's bookkeeping with fake seams: while a pod is being made (its name reserved,
 * no record yet) the sandbox store reports its ID in creation, which is what the garbage sweep
 * asks before it removes a netns, dirs or pins without a record.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Deps } from "../../../src/server/deps.ts";
import { runPodSandbox } from "../../../src/server/sandbox_run.ts";
import { decode, testDeps } from "./_fakes.ts";
import type * as cri from "../../../src/cri/types.ts";

/** A pod on the host network and IPC (no netns, CNI or /dev/shm mount) without an infra container. */
function request(name: string): cri.RunPodSandboxRequest {
  return decode<cri.RunPodSandboxRequest>("RunPodSandbox", {
    config: {
      metadata: { name, uid: `${name}-uid`, namespace: "ns", attempt: 0 },
      linux: {
        security_context: { namespace_options: { network: "NODE", ipc: "NODE", pid: "CONTAINER" } },
      },
    },
  });
}

Deno.test("runPodSandbox(): the pod is in creation for the sweep until its record is stored", async (t) => {
  const deps = await testDeps();
  try {
    deps.network = {} as Deps["network"];
    assert.equal(deps.holders.choose(request("x").config!).kind, "pinned");
    const seen: Array<[string, boolean]> = [];
    // The holder makes the pod's namespaces in the middle of the creation.
    const fake = deps.holders as unknown as { choose: Deps["holders"]["choose"] };
    const choose = fake.choose.bind(fake);
    let fail = false;
    fake.choose = (config) => {
      const holder = choose(config);
      const create = holder.create.bind(holder);
      return Object.assign(Object.create(holder), {
        create: (req: Parameters<typeof create>[0]) => {
          seen.push([req.id, deps.sandboxes.inCreation(req.id)]);
          if (fail) return Promise.reject(new Error("pin failed"));
          return create(req);
        },
      });
    };

    await t.step("a pod made: in creation during, not after", async () => {
      const res = await runPodSandbox(deps, request("made"));
      const [id, during] = seen.at(-1)!;
      assert.equal(id, res.pod_sandbox_id);
      assert.equal(during, true);
      assert.equal(deps.sandboxes.inCreation(id), false);
      assert.ok(deps.sandboxes.has(id));
    });
    await t.step("a pod whose creation failed: no longer in creation", async () => {
      fail = true;
      await assert.rejects(runPodSandbox(deps, request("failed")), /pin failed/);
      const [id, during] = seen.at(-1)!;
      assert.equal(during, true);
      assert.equal(deps.sandboxes.inCreation(id), false);
      assert.equal(deps.sandboxes.has(id), false);
    });
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});
