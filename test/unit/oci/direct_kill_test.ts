import assert from "node:assert/strict";
import { denoSignal, killInit, processStartTime } from "../../../src/oci/direct_kill.ts";

function sleeper(): Deno.ChildProcess {
  return new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
}

Deno.test("denoSignal() takes runc's spellings of the standard signals only", () => {
  for (const s of ["TERM", "SIGTERM", "sigterm", "15", " term "]) {
    assert.equal(denoSignal(s), "SIGTERM", s);
  }
  assert.equal(denoSignal("KILL"), "SIGKILL");
  assert.equal(denoSignal("9"), "SIGKILL");
  assert.equal(denoSignal("SIGWINCH"), "SIGWINCH");
  assert.equal(denoSignal("USR1"), "SIGUSR1");
  for (const s of ["SIGRTMIN+3", "RTMIN", "34", "0", "64", "NOPE", "", "SIG"]) {
    assert.equal(denoSignal(s), undefined, s);
  }
});

Deno.test("processStartTime() reads a live process's start time; none for a gone or ended one", async () => {
  const child = sleeper();
  try {
    const t = await processStartTime(child.pid);
    assert.match(t ?? "", /^\d+$/);
    assert.equal(await processStartTime(child.pid), t, "the same every time");
    const self = await processStartTime(Deno.pid);
    assert.notEqual(self, undefined);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.equal(await processStartTime(child.pid), undefined);
  assert.equal(await processStartTime(0), undefined);
  // A zombie has ended: not signalled as the init.
  const zombie = new Deno.Command("sh", { args: ["-c", "exit 0"] }).spawn();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await processStartTime(zombie.pid), undefined);
  await zombie.status;
});

Deno.test("killInit() signals the init it was given, and never a process that reused its pid", async () => {
  const child = sleeper();
  const startTime = (await processStartTime(child.pid))!;
  // Another start time: another process under the same pid. Nothing is sent.
  assert.equal(
    await killInit({ pid: child.pid, startTime: `${Number(startTime) + 1}` }, "KILL"),
    "gone",
  );
  await new Promise((r) => setTimeout(r, 100));
  assert.notEqual(await processStartTime(child.pid), undefined, "still alive");
  // A signal with no Deno name is left to the runtime: nothing is sent.
  assert.equal(await killInit({ pid: child.pid, startTime }, "SIGRTMIN+3"), undefined);
  assert.equal(await killInit({ pid: child.pid, startTime }, "TERM"), "sent");
  const status = await child.status;
  assert.equal(status.signal, "SIGTERM");
  assert.equal(await killInit({ pid: child.pid, startTime }, "KILL"), "gone");
});
