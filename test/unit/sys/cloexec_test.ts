import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { markFdsCloseOnExec } from "../../../src/sys/cloexec.ts";

/** The socket fds a child process holds (`ls -l /proc/self/fd` run by `sh`). */
async function childSockets(): Promise<string[]> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", "ls -l /proc/$$/fd"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.includes("socket:"));
}

Deno.test({
  name: "markFdsCloseOnExec() keeps a node:net listening socket out of children",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ocid-cloexec-" });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, "s.sock"), resolve));
    try {
      // Deno leaves this listener inheritable: a child holds it...
      assert.notDeepEqual(await childSockets(), [], "the listener is inherited without the call");
      // ...until every fd is marked close-on-exec.
      assert.equal(markFdsCloseOnExec(), true);
      assert.deepEqual(await childSockets(), []);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
