/**
 * StopPodSandbox's network tear-down, with fake network and netns seams: the request carries
 * the pod's port mappings from its stored config, so a DEL without a cached ADD result decides
 * as ADD did (whether `portmap` runs).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { TearDownRequest } from "../../../src/network/mod.ts";
import type { Deps } from "../../../src/server/deps.ts";
import { stopPodSandbox } from "../../../src/server/sandbox_stop.ts";
import { addContainerRecord, addSandbox, decode, testDeps } from "./_fakes.ts";

Deno.test("stopPodSandbox() tears the network down with the pod's stored port mappings", async () => {
  const deps = await testDeps();
  try {
    const requests: TearDownRequest[] = [];
    deps.network = {
      tearDown: (req: TearDownRequest) => (requests.push(req), Promise.resolve()),
    } as unknown as Deps["network"];
    deps.netns = { remove: () => Promise.resolve() } as unknown as Deps["netns"];
    const ports = await addSandbox(deps, {
      name: "ports",
      infraExited: true,
      portMappings: [{
        protocol: "UDP",
        container_port: 53,
        host_port: 5353,
        host_ip: "127.0.0.1",
      }],
    });
    const idle = await addSandbox(deps, { name: "idle", infraExited: true });
    for (const id of [ports, idle]) {
      await stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: id }));
    }
    assert.deepEqual(requests.map((r) => [r.podName, r.portMappings]), [
      ["ports", [{ protocol: "UDP", containerPort: 53, hostPort: 5353, hostIp: "127.0.0.1" }]],
      ["idle", []],
    ]);
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

/** A promise and the function that settles it. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Fakes a holder, a network and a netns manager that log what they are asked, in order. */
function logged(deps: Deps, network: Promise<void>, release: () => Promise<void>) {
  const log: string[] = [];
  deps.holders = {
    of: () => ({
      release: async () => {
        log.push("release");
        await release();
        log.push("released");
      },
    }),
  } as unknown as Deps["holders"];
  deps.network = {
    tearDown: async () => {
      log.push("DEL");
      await network;
      log.push("DEL done");
    },
  } as unknown as Deps["network"];
  deps.netns = {
    remove: () => (log.push("netns removed"), Promise.resolve()),
  } as unknown as Deps["netns"];
  return log;
}

Deno.test("stopPodSandbox() lets the holder go while CNI DEL runs, and removes the netns after both", async () => {
  const deps = await testDeps();
  try {
    const del = deferred();
    const log = logged(deps, del.promise, () => Promise.resolve());
    const id = await addSandbox(deps, { name: "overlap" });
    const stopping = stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: id }));
    while (!log.includes("released")) await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(log, ["release", "DEL", "released"], "released before DEL has returned");
    del.resolve();
    await stopping;
    assert.deepEqual(log.slice(3), ["DEL done", "netns removed"]);
    assert.equal(deps.sandboxes.get(id).status.state, "SANDBOX_NOTREADY");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("stopPodSandbox() waits for both halves when one fails, and reports the failure", async () => {
  const deps = await testDeps();
  try {
    // CNI DEL fails: the holder is still let go, the netns stays for a retry.
    let del = deferred();
    let log = logged(deps, del.promise, () => Promise.resolve());
    const failedDel = await addSandbox(deps, { name: "del-fails" });
    del.reject(new Error("bridge: DEL failed"));
    await assert.rejects(
      stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: failedDel })),
      /bridge: DEL failed/,
    );
    assert.deepEqual(log.toSorted(), ["DEL", "release", "released"]);
    assert.equal(deps.sandboxes.get(failedDel).status.state, "SANDBOX_READY");

    // The holder cannot be let go: DEL still runs to its end before the error is reported.
    del = deferred();
    const release = deferred();
    log = logged(deps, del.promise, () => release.promise);
    const failedRelease = await addSandbox(deps, { name: "release-fails" });
    const stopping = stopPodSandbox(
      deps,
      decode("StopPodSandbox", { pod_sandbox_id: failedRelease }),
    );
    let settled = false;
    stopping.catch(() => {}).finally(() => settled = true);
    release.reject(new Error("infra still running"));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(settled, false, "no answer while DEL runs");
    del.resolve();
    await assert.rejects(stopping, /infra still running/);
    assert.deepEqual(log, ["release", "DEL", "DEL done"]);
    assert.equal(deps.sandboxes.get(failedRelease).status.state, "SANDBOX_READY");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

/** A READY pod with `count` running containers, whose network and netns seams do nothing. */
async function bigPod(deps: Awaited<ReturnType<typeof testDeps>>, count: number) {
  deps.network = { tearDown: () => Promise.resolve() } as unknown as Deps["network"];
  deps.netns = { remove: () => Promise.resolve() } as unknown as Deps["netns"];
  const pod = await addSandbox(deps, { name: "big", infraExited: true });
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = i.toString(16).padStart(4, "0") + "c".repeat(60);
    await addContainerRecord(deps, {
      id,
      sandboxId: pod,
      name: `c${i}`,
      state: "CONTAINER_RUNNING",
    });
    ids.push(id);
  }
  return { pod, ids };
}

Deno.test("stopPodSandbox() starts every container's stop at once: the runtime bounds its verbs", async () => {
  const deps = await testDeps();
  try {
    const { pod } = await bigPod(deps, 24);
    let running = 0;
    let most = 0;
    const runtime = deps.runtime as unknown as { kill: (id: string) => Promise<void> };
    runtime.kill = async (id: string) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      deps.exits.deliver(id, { exitCode: 137, finishedAt: new Date() });
    };
    await stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: pod }));
    assert.equal(most, 24);
    assert.ok(deps.containers.list().every((c) => c.status.state === "CONTAINER_EXITED"));
    assert.equal(deps.sandboxes.get(pod).status.state, "SANDBOX_NOTREADY");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("stopPodSandbox() lets every container's stop end, then fails with the first failure", async () => {
  const deps = await testDeps();
  try {
    const { pod, ids } = await bigPod(deps, 4);
    const stuck = new Set([ids[1]!, ids[2]!]);
    const runtime = deps.runtime as unknown as {
      kill: (id: string) => Promise<void>;
      state: (id: string) => Promise<{ status: string }>;
    };
    runtime.kill = async (id: string) => {
      await new Promise((r) => setTimeout(r, 2));
      if (!stuck.has(id)) deps.exits.deliver(id, { exitCode: 137, finishedAt: new Date() });
    };
    runtime.state = () => Promise.resolve({ status: "running" });
    const wait = deps.exits.wait.bind(deps.exits);
    deps.exits.wait = (id: string, ms: number) =>
      stuck.has(id) ? Promise.resolve(undefined) : wait(id, ms);
    await assert.rejects(
      stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: pod })),
      new RegExp(`Cannot stop container "${ids[1]}"`),
    );
    const state = (id: string) => deps.containers.get(id).status.state;
    assert.deepEqual(ids.map(state), [
      "CONTAINER_EXITED",
      "CONTAINER_RUNNING",
      "CONTAINER_RUNNING",
      "CONTAINER_EXITED",
    ]);
    assert.equal(deps.sandboxes.get(pod).status.state, "SANDBOX_READY");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});
