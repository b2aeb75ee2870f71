/**
 * ExecSync, UpdateContainerResources and ReopenContainerLog with a fake runtime: what reaches
 * the runtime, the timeout and state errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { OcidError } from "../../../src/errors.ts";
import { EXEC_SYNC_MAX_OUTPUT_BYTES, execSync } from "../../../src/server/container_exec_sync.ts";
import { updateContainerResources } from "../../../src/server/container_update_resources.ts";
import { reopenContainerLog } from "../../../src/server/container_reopen_log.ts";
import type * as cri from "../../../src/cri/types.ts";
import { addContainerRecord, addSandbox, decode, testDeps } from "./_fakes.ts";

const ID = "c".repeat(64);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof OcidError ? err.code : `other: ${(err as Error).message}`;
  }
  return "OK";
}

async function setup(state: "CONTAINER_RUNNING" | "CONTAINER_EXITED" = "CONTAINER_RUNNING") {
  const deps = await testDeps();
  const pod = await addSandbox(deps);
  await addContainerRecord(deps, { id: ID, sandboxId: pod, name: "app", state });
  const bundle = deps.containers.get(ID).metadata.bundle;
  await Deno.mkdir(bundle, { recursive: true });
  await Deno.writeTextFile(
    join(bundle, "config.json"),
    JSON.stringify({
      ociVersion: "1.0.2",
      process: { args: ["sh"], env: ["PATH=/bin", "A=1"], cwd: "/work", user: { uid: 7, gid: 8 } },
      linux: { resources: { devices: [{ allow: false, access: "rwm" }] } },
    }),
  );
  return deps;
}

Deno.test("execSync() runs in the container's bundle, capped, and returns output", async () => {
  const deps = await setup();
  try {
    deps.fakeRuntime.execResult = {
      exitCode: 2,
      stdout: new TextEncoder().encode("out"),
      stderr: new TextEncoder().encode("err"),
      timedOut: false,
      truncated: false,
    };
    const res = await execSync(
      deps,
      decode<cri.ExecSyncRequest>("ExecSync", { container_id: ID, cmd: ["ls", "/"], timeout: 5 }),
    );
    assert.equal(res.exit_code, 2);
    assert.equal(new TextDecoder().decode(res.stdout), "out");
    assert.equal(new TextDecoder().decode(res.stderr), "err");
    const call = deps.fakeRuntime.calls.find((c) => c.verb === "execSync")!;
    assert.equal(call.id, ID);
    assert.deepEqual(call.args[0], {
      args: ["ls", "/"],
      bundle: deps.containers.get(ID).metadata.bundle,
      timeoutMs: 5000,
      maxOutputBytes: EXEC_SYNC_MAX_OUTPUT_BYTES,
    });
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("execSync() maps a timeout to DEADLINE_EXCEEDED and refuses a stopped container", async () => {
  const deps = await setup();
  try {
    deps.fakeRuntime.execResult = { ...deps.fakeRuntime.execResult, timedOut: true };
    const req = decode<cri.ExecSyncRequest>("ExecSync", {
      container_id: ID,
      cmd: ["sleep", "9"],
      timeout: 1,
    });
    assert.equal(await codeOf(execSync(deps, req)), "DEADLINE_EXCEEDED");
    const noCmd = decode<cri.ExecSyncRequest>("ExecSync", { container_id: ID });
    assert.equal(await codeOf(execSync(deps, noCmd)), "INVALID_ARGUMENT");
    const unknown = decode<cri.ExecSyncRequest>("ExecSync", {
      container_id: "d".repeat(64),
      cmd: ["x"],
    });
    assert.equal(await codeOf(execSync(deps, unknown)), "NOT_FOUND");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
  const exited = await setup("CONTAINER_EXITED");
  try {
    const req = decode<cri.ExecSyncRequest>("ExecSync", { container_id: ID, cmd: ["true"] });
    assert.equal(await codeOf(execSync(exited, req)), "FAILED_PRECONDITION");
    assert.deepEqual(exited.fakeRuntime.calls, []);
  } finally {
    await Deno.remove(exited.dir, { recursive: true });
  }
});

Deno.test("updateContainerResources() applies, persists and reports the new resources", async () => {
  const deps = await setup();
  try {
    const req = decode<cri.UpdateContainerResourcesRequest>("UpdateContainerResources", {
      container_id: ID,
      linux: { cpu_quota: 20000, cpu_period: 100000, memory_limit_in_bytes: 32 << 20 },
    });
    await updateContainerResources(deps, req);
    const call = deps.fakeRuntime.calls.find((c) => c.verb === "updateResources")!;
    assert.deepEqual(call.args[0], {
      cpu: { quota: 20000, period: 100000 },
      // No swap limit asked for, on a node that accounts swap: memory and swap together.
      memory: { limit: 32 << 20, swap: 32 << 20 },
    });
    const spec = JSON.parse(
      await Deno.readTextFile(join(deps.containers.get(ID).metadata.bundle, "config.json")),
    );
    assert.equal(spec.linux.resources.memory.limit, 32 << 20);
    assert.deepEqual(spec.linux.resources.devices, [{ allow: false, access: "rwm" }]);
    assert.equal(deps.containers.get(ID).status.resources?.cpu_quota, "20000");

    const bad = decode<cri.UpdateContainerResourcesRequest>("UpdateContainerResources", {
      container_id: ID,
      linux: { cpu_shares: -2 },
    });
    assert.equal(await codeOf(updateContainerResources(deps, bad)), "INVALID_ARGUMENT");
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("reopenContainerLog() asks the runtime only for a running container", async () => {
  const deps = await setup();
  try {
    await reopenContainerLog(deps, { container_id: ID.slice(0, 5) });
    assert.deepEqual(deps.fakeRuntime.verbs(), ["reopenLog"]);
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
  const exited = await setup("CONTAINER_EXITED");
  try {
    assert.equal(
      await codeOf(reopenContainerLog(exited, { container_id: ID })),
      "FAILED_PRECONDITION",
    );
  } finally {
    await Deno.remove(exited.dir, { recursive: true });
  }
});
