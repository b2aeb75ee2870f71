/**
 * The monitors' watch over fake stores and a fake runtime: a conmon gone on two checks in a row
 * without an exit kills what it watched and records exit 255 (Unknown); an exit file the exit
 * watcher did not deliver is delivered; a conmon alive or an exit delivered change nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MONITOR_GONE, MonitorWatch } from "../../src/monitor_watch.ts";
import { addContainerRecord, addSandbox, testDeps } from "./server/_fakes.ts";
import { recordExit } from "../../src/server/exits.ts";

const C1 = "1".repeat(64);
const C2 = "2".repeat(64);
const C3 = "3".repeat(64);

Deno.test("MonitorWatch ends what a dead conmon watched, on the second check that finds it gone", async () => {
  const deps = await testDeps();
  try {
    deps.exits.onExit((id, e) => recordExit(deps, id, e));
    const pod = await addSandbox(deps); // infra container, conmon 776
    const running = { sandboxId: pod, state: "CONTAINER_RUNNING" as const };
    await addContainerRecord(deps, { id: C1, name: "a", conmonPid: 101, ...running });
    await addContainerRecord(deps, { id: C2, name: "b", conmonPid: 102, ...running });
    await addContainerRecord(deps, { id: C3, name: "c", conmonPid: 103, ...running });
    const C4 = "4".repeat(64);
    await addContainerRecord(deps, { id: C4, name: "d", conmonPid: 104, ...running });
    const exitDir = join(deps.dir, "exits");
    await Deno.mkdir(exitDir);
    const watch = new MonitorWatch({ ...deps, exitDir });

    assert.deepEqual(await watch.check(), [], "all monitors alive");
    deps.fakeRuntime.deadConmons = new Set([101, 102, 103, 104, 776]);
    // C2's conmon wrote its exit file and exited, but the exit watcher never delivered it (a
    // lost inotify event); C4's exit is delivered between the two checks, as usual.
    await Deno.writeTextFile(join(exitDir, C2), "3");
    assert.deepEqual(await watch.check(), [], "seen gone once: nothing done yet");
    deps.exits.deliver(C4, { exitCode: 0, finishedAt: new Date() });
    assert.deepEqual((await watch.check()).sort(), [C1, C2, C3, pod].sort());
    await deps.exits.settled(); // the store updates of the exits delivered

    for (const id of [C1, C3]) {
      const st = deps.containers.get(id).status;
      assert.equal(st.state, "CONTAINER_EXITED");
      assert.equal(st.exitCode, 255);
      assert.equal(st.reason, "Unknown");
      assert.equal(st.message, MONITOR_GONE);
    }
    const c2 = deps.containers.get(C2).status;
    assert.deepEqual([c2.state, c2.exitCode, c2.reason], ["CONTAINER_EXITED", 3, "Error"]);
    assert.equal(deps.containers.get(C4).status.exitCode, 0);
    assert.equal(deps.sandboxes.get(pod).status.state, "SANDBOX_NOTREADY");
    const kills = deps.fakeRuntime.calls.filter((c) => c.verb === "kill").map((c) => c.id);
    assert.deepEqual(kills.sort(), [C1, C3, pod].sort(), "not those whose exit is known");
    // Exited now: not watched any more.
    assert.deepEqual(await watch.check(), []);
    await watch.close();
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});

Deno.test("MonitorWatch forgets a suspect whose monitor is found alive again", async () => {
  const deps = await testDeps();
  try {
    const pod = await addSandbox(deps, { holder: "pinned" }); // no infra: not watched
    await addContainerRecord(deps, {
      id: C1,
      name: "a",
      sandboxId: pod,
      state: "CONTAINER_CREATED",
      conmonPid: 101,
    });
    const watch = new MonitorWatch({ ...deps, exitDir: join(deps.dir, "exits") });
    deps.fakeRuntime.deadConmons = new Set([101]);
    assert.deepEqual(await watch.check(), []);
    deps.fakeRuntime.deadConmons = new Set();
    assert.deepEqual(await watch.check(), []);
    deps.fakeRuntime.deadConmons = new Set([101]);
    assert.deepEqual(await watch.check(), [], "gone again: a first sighting");
    assert.deepEqual(await watch.check(), [C1]);
    await watch.close();
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});
