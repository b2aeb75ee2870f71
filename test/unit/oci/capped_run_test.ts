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
    beforeKill: () => {
      killed++;
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
