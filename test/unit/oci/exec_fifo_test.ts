import assert from "node:assert/strict";
import { join } from "node:path";
import {
  ExecFifoStartError,
  hasStartHooks,
  INIT_COMM,
  startByExecFifo,
} from "../../../src/oci/exec_fifo.ts";
import { exists } from "../../../src/exists.ts";
import { fakeRuncInit as fakeInit } from "./fakes.ts";

/** This process's threads blocked in a FIFO's `open(2)` (kernel wait channel). */
async function threadsInFifoOpen(): Promise<string[]> {
  const found: string[] = [];
  for await (const t of Deno.readDir("/proc/self/task")) {
    const wchan = await Deno.readTextFile(`/proc/self/task/${t.name}/wchan`).catch(() => "");
    if (wchan === "wait_for_partner") found.push(t.name);
  }
  return found;
}

/** Asserts that the start of `init` fails with `message` (a string: whole; a RegExp: matched). */
async function assertStartFails(
  init: { stateDir: string; child: Deno.ChildProcess; bundle: string },
  options: { pollMs?: number; timeoutMs?: number },
  message: string | RegExp,
) {
  await assert.rejects(
    startByExecFifo({
      stateDir: init.stateDir,
      pid: init.child.pid,
      bundle: init.bundle,
      ...options,
    }),
    (err: unknown) => {
      assert.ok(err instanceof ExecFifoStartError);
      if (typeof message === "string") assert.equal(err.message, message);
      else assert.match(err.message, message);
      return true;
    },
  );
}

async function commOf(pid: number): Promise<string> {
  return (await Deno.readTextFile(`/proc/${pid}/comm`)).trim();
}

Deno.test("startByExecFifo() reads the init's byte, lets it exec and removes the FIFO", async () => {
  await using init = await fakeInit();
  const started = await startByExecFifo({
    stateDir: init.stateDir,
    pid: init.child.pid,
    bundle: init.bundle,
  });
  assert.equal(started, true);
  // The read ended at the init's exec (its end of the FIFO closed): it is the process now.
  assert.equal(await commOf(init.child.pid), "sleep");
  assert.equal(await exists(init.fifo), false);
});

Deno.test("startByExecFifo() throws runc's error when the init dies before it opens the FIFO", async () => {
  // Alive and named as runc's init at the check, gone before it ever opens the FIFO.
  await using init = await fakeInit({ script: "sleep 0.3; exit 1" });
  const started = performance.now();
  await assertStartFails(init, { pollMs: 20 }, "container process is already dead");
  assert.ok(performance.now() - started < 5_000, "the wait for a writer ended");
  // Nothing started: the FIFO stays for runc's own view (stopped, as the init is gone).
  assert.equal(await exists(init.fifo), true);
});

Deno.test("startByExecFifo() leaves to `runc start` a container with hooks run at start", async () => {
  for (
    const hooks of [{ poststart: [{ path: "/bin/true" }] }, { startContainer: [{ path: "/x" }] }]
  ) {
    await using init = await fakeInit({ hooks });
    const started = await startByExecFifo({
      stateDir: init.stateDir,
      pid: init.child.pid,
      bundle: init.bundle,
    });
    assert.equal(started, false, JSON.stringify(hooks));
    assert.equal(await exists(init.fifo), true);
    assert.equal(await commOf(init.child.pid), INIT_COMM, "still waiting to start");
  }
});

Deno.test("startByExecFifo() leaves to `runc start` a container with no FIFO, no init or a reused pid", async () => {
  await using init = await fakeInit();
  const start = { stateDir: init.stateDir, pid: init.child.pid, bundle: init.bundle };
  // A pid that is not runc's init (reused after the init died).
  assert.equal(await startByExecFifo({ ...start, pid: Deno.pid }), false);
  assert.equal(await startByExecFifo({ ...start, pid: 0 }), false);
  // No config.json to tell the hooks.
  assert.equal(await startByExecFifo({ ...start, bundle: join(init.bundle, "nope") }), false);
  // Started before: runc removed the FIFO.
  assert.equal(await startByExecFifo(start), true);
  assert.equal(await startByExecFifo(start), false);
});

Deno.test("startByExecFifo() takes a FIFO that is not a FIFO as not created", async () => {
  await using init = await fakeInit({ script: "sleep 30; exit 1" });
  await Deno.remove(init.fifo);
  await Deno.writeTextFile(init.fifo, "0");
  assert.equal(
    await startByExecFifo({ stateDir: init.stateDir, pid: init.child.pid, bundle: init.bundle }),
    false,
  );
});

Deno.test("hasStartHooks() sees poststart and startContainer hooks, and unreadable documents", () => {
  assert.equal(hasStartHooks("{}"), false);
  assert.equal(hasStartHooks(JSON.stringify({ hooks: {} })), false);
  assert.equal(hasStartHooks(JSON.stringify({ hooks: { poststart: [] } })), false);
  assert.equal(
    hasStartHooks(
      JSON.stringify({ hooks: { prestart: [{ path: "/a" }], poststop: [{ path: "/b" }] } }),
    ),
    false,
  );
  assert.equal(hasStartHooks(JSON.stringify({ hooks: { poststart: [{ path: "/a" }] } })), true);
  assert.equal(
    hasStartHooks(JSON.stringify({ hooks: { startContainer: [{ path: "/a" }] } })),
    true,
  );
  assert.equal(hasStartHooks("{not json"), true);
  assert.equal(hasStartHooks(JSON.stringify({ hooks: "odd" })), true);
});

Deno.test("startByExecFifo() gives up at its timeout on an init that never goes on, and lets go of the FIFO", async () => {
  // Alive and named as runc's init, but never opens the FIFO (as one in a frozen cgroup).
  await using init = await fakeInit({ script: "sleep 30; exit 1" });
  await assertStartFails(init, { pollMs: 20, timeoutMs: 200 }, /^timed out after 200 ms/);
  // The wait for a writer was ended while the init still lives: no thread of this process is
  // left in a FIFO's open. Nothing was started.
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await threadsInFifoOpen(), []);
  assert.equal(await exists(init.fifo), true);
  assert.equal((await Deno.readTextFile(`/proc/${init.child.pid}/comm`)).trim(), INIT_COMM);
});
