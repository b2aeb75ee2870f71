import assert from "node:assert/strict";
import { denoCappedRunner } from "../../../src/oci/capped_run.ts";

const dec = new TextDecoder();

Deno.test("denoCappedRunner.run() collects stdout, stderr and the exit code", async () => {
  const r = await denoCappedRunner.run("/bin/sh", ["-c", "echo a; echo b >&2; exit 4"], {
    timeoutMs: 30_000,
    maxOutputBytes: 1024,
  });
  assert.deepEqual(
    [dec.decode(r.stdout), dec.decode(r.stderr), r.code, r.timedOut, r.truncated],
    ["a\n", "b\n", 4, false, false],
  );
});

Deno.test("denoCappedRunner.run() stops a flood at the cap and kills the program", async () => {
  let killed = 0;
  const r = await denoCappedRunner.run("/usr/bin/yes", [], {
    timeoutMs: 30_000,
    maxOutputBytes: 100_000,
    kill: (program) => {
      killed++;
      program.kill("SIGKILL");
    },
  });
  assert.equal(r.truncated, true);
  assert.equal(r.timedOut, false);
  assert.equal(r.stdout.length, 100_000);
  assert.equal(killed, 1);
  assert.notEqual(r.code, 0);
});

Deno.test("denoCappedRunner.run() kills the program at the timeout", async () => {
  const r = await denoCappedRunner.run("/bin/sleep", ["30"], {
    timeoutMs: 100,
    maxOutputBytes: 1024,
  });
  assert.equal(r.timedOut, true);
  assert.equal(r.code, 137);
});

Deno.test("denoCappedRunner.run() keeps output that ends right at the cap", async () => {
  const r = await denoCappedRunner.run("/bin/sh", ["-c", "printf 12345; printf 678 >&2"], {
    timeoutMs: 30_000,
    maxOutputBytes: 8,
  });
  assert.deepEqual([dec.decode(r.stdout), dec.decode(r.stderr), r.truncated], [
    "12345",
    "678",
    false,
  ]);
});

Deno.test("denoCappedRunner.run() cuts stdout and stderr together at the cap", async () => {
  // setsid makes the shell lead a group of its own (it runs in place: Deno's child leads none).
  const r = await denoCappedRunner.run("setsid", ["sh", "-c", "yes out & yes err >&2; wait"], {
    timeoutMs: 30_000,
    maxOutputBytes: 300_000,
    kill: async (program) => {
      try {
        Deno.kill(-(program as Deno.ChildProcess).pid, "SIGKILL");
      } catch { /* gone */ }
      await program.status;
    },
  });
  assert.equal(r.truncated, true);
  assert.equal(r.stdout.length + r.stderr.length, 300_000);
});

Deno.test("denoCappedRunner.run() waits for a kill that lets the program exit by itself", async () => {
  const order: string[] = [];
  const r = await denoCappedRunner.run("/bin/sleep", ["30"], {
    timeoutMs: 50,
    maxOutputBytes: 1024,
    kill: async (program) => {
      order.push("kill");
      program.kill("SIGTERM");
      await program.status;
      order.push("exited");
    },
  });
  order.push("answered");
  assert.deepEqual(order, ["kill", "exited", "answered"]);
  assert.equal(r.timedOut, true);
  assert.equal(r.code, 143);
});

Deno.test("denoCappedRunner.run() kills the program when its caller's signal aborts", async () => {
  const cancel = new AbortController();
  setTimeout(() => cancel.abort(), 100);
  const t0 = performance.now();
  const r = await denoCappedRunner.run("sleep", ["30"], {
    timeoutMs: 60_000,
    maxOutputBytes: 1024,
    signal: cancel.signal,
  });
  assert.ok(performance.now() - t0 < 10_000);
  assert.equal(r.code, 137);
  assert.equal(r.timedOut, false);
  // Already aborted: the program is killed at once.
  const again = await denoCappedRunner.run("sleep", ["30"], {
    timeoutMs: 60_000,
    maxOutputBytes: 1024,
    signal: cancel.signal,
  });
  assert.equal(again.code, 137);
});
