import assert from "node:assert/strict";
import { ChildPipe, spawnWithPipes } from "../../../src/sys/child_pipe.ts";

const fdCount = () => [...Deno.readDirSync("/proc/self/fd")].length;

Deno.test("ChildPipe: the child writes and reads under the numbers given; nothing stays open", async () => {
  const before = fdCount();
  const out = ChildPipe.open(true);
  const input = ChildPipe.open(false);
  assert.ok(out && input, "FFI and close_range are available here");
  // The child copies what it reads on one pipe to the other, and lists its fds.
  const child = spawnWithPipes([out, input], () =>
    new Deno.Command("/bin/bash", {
      args: [
        "-c",
        'read -r line <&"$1"; echo "got $line" >&"$0"; ls /proc/self/fd >&2',
        `${out.childFd}`,
        `${input.childFd}`,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn());
  input.file.writeSync(new TextEncoder().encode("hello\n"));
  input.close();
  const [status, text, fds] = await Promise.all([
    child.status,
    // The child ends were closed here at the spawn, so the child's exit ends the stream.
    new Response(out.file.readable).text(),
    new Response(child.stderr).text(),
  ]);
  assert.equal(status.code, 0);
  assert.equal(text, "got hello\n");
  // 0 to 2, the two pipes, and the directory ls reads (3).
  assert.deepEqual(
    fds.trim().split("\n").map(Number).sort((a, b) => a - b),
    [0, 1, 2, 3, out.childFd, input.childFd].sort((a, b) => a - b),
  );
  out.close();
  out.close();
  assert.equal(fdCount(), before);
});

Deno.test("spawnWithPipes(): a spawn that throws still closes the child's ends", () => {
  const before = fdCount();
  const pipe = ChildPipe.open(true)!;
  assert.throws(
    () => spawnWithPipes([pipe], () => new Deno.Command("/nonexistent/conmon").spawn()),
    Deno.errors.NotFound,
  );
  assert.throws(() => spawnWithPipes([pipe], () => 1), /Cannot hand the child its pipes/);
  pipe.close();
  assert.equal(fdCount(), before);
});
