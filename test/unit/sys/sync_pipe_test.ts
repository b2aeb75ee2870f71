import assert from "node:assert/strict";
import { openSyncPipe } from "../../../src/sys/sync_pipe.ts";

const fdCount = () => [...Deno.readDirSync("/proc/self/fd")].length;

Deno.test("openSyncPipe(): the child writes under the number given, and nothing stays open", async () => {
  const before = fdCount();
  const pipe = openSyncPipe();
  assert.ok(pipe, "FFI and close_range are available here");
  const child = pipe.spawn(() =>
    new Deno.Command("/bin/bash", {
      args: ["-c", 'echo hello >&"$0"', `${pipe.writeFd}`],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn()
  );
  assert.equal((await child.status).code, 0);
  // The write end was closed here at the spawn, so the child's exit ends the stream.
  assert.equal(await new Response(pipe.reader.readable).text(), "hello\n");
  pipe.close();
  pipe.close();
  assert.equal(fdCount(), before);
});

Deno.test("openSyncPipe(): a spawn that throws still closes the write end", () => {
  const before = fdCount();
  const pipe = openSyncPipe()!;
  assert.throws(
    () => pipe.spawn(() => new Deno.Command("/nonexistent/conmon").spawn()),
    Deno.errors.NotFound,
  );
  assert.throws(() => pipe.spawn(() => 1), /write end is closed/);
  pipe.close();
  assert.equal(fdCount(), before);
});
