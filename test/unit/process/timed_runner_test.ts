import assert from "node:assert/strict";
import { timedRunner, verbOf } from "../../../src/timed_runner.ts";
import type { Logger } from "../../../src/log.ts";
import type { Runner } from "../../../src/process.ts";

function recordingLogger(
  records: Array<{ msg: string; fields?: Record<string, unknown> }>,
): Logger {
  const debug = (msg: string, fields?: Record<string, unknown>) =>
    void records.push({ msg, ...(fields ? { fields } : {}) });
  return { debug, info() {}, warn() {}, error() {} };
}

Deno.test("timedRunner() logs each run with its program, verb and duration", async () => {
  const records: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const inner: Runner = {
    run: () => Promise.resolve({ code: 0, stdout: new Uint8Array(), stderr: new Uint8Array() }),
  };
  const res = await timedRunner(inner, recordingLogger(records))
    .run("/usr/sbin/runc", ["--root", "/run/r", "start", "abc"]);
  assert.equal(res.code, 0);
  assert.equal(records.length, 1);
  assert.equal(records[0]!.msg, "Ran program");
  assert.equal(records[0]!.fields?.cmd, "runc");
  assert.equal(records[0]!.fields?.verb, "start");
  assert.equal(records[0]!.fields?.ok, true);
  assert.match(String(records[0]!.fields?.ms), /^\d+\.\d\d$/);
});

Deno.test("timedRunner() logs a failed run and rethrows its error", async () => {
  const records: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
  const inner: Runner = { run: () => Promise.reject(new Error("boom")) };
  await assert.rejects(
    timedRunner(inner, recordingLogger(records)).run("bridge", [], {
      env: { CNI_COMMAND: "ADD" },
    }),
    /boom/,
  );
  assert.equal(records[0]!.fields?.verb, "ADD");
  assert.equal(records[0]!.fields?.ok, false);
});

Deno.test("verbOf() skips options, their values and paths", () => {
  assert.equal(verbOf(["-t", "tmpfs", "-o", "size=1", "shm", "/run/x"]), "shm");
  assert.equal(verbOf(["-l", "/run/netns/abc"]), "-");
  assert.equal(verbOf(["--net=/run/netns/abc", "true"]), "true");
});
