import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { conmonCommand } from "../../../src/oci/conmon_spawn.ts";
import { markFdsCloseOnExec } from "../../../src/sys/cloexec.ts";

/** A stand-in for conmon: writes on each fd, then a program it execs lists the fds it got. */
const STAND_IN = "echo sync >&3; echo out; echo err >&2; exec ls /proc/self/fd >&2";

/**
 * Runs `conmonCommand(stand-in)` with piped stdout and stderr, as spawnConmon does, while this
 * process holds a node:net listener (an fd Deno leaves inheritable, like the CRI socket).
 */
async function runStandIn(cloexec: boolean) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-conmon-command-" });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(dir, "s.sock"), resolve));
  try {
    if (cloexec) assert.equal(markFdsCloseOnExec(), true);
    const { file, args } = conmonCommand("/bin/sh", ["-c", STAND_IN], cloexec);
    const out = await new Deno.Command(file, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await Deno.remove(dir, { recursive: true });
  }
}

for (const cloexec of [false, true]) {
  const how = cloexec ? "the daemon's fds are close-on-exec" : "a bash step closes them";
  Deno.test({
    name: `conmonCommand() gives conmon the stdout pipe as fd 3 and no other fd when ${how}`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const { code, stdout, stderr } = await runStandIn(cloexec);
      assert.equal(code, 0);
      assert.equal(stdout, "sync\n", "fd 3 is the stdout pipe: the sync pipe");
      const [out, err, ...fds] = stderr.trim().split("\n");
      assert.deepEqual([out, err], ["out", "err"], "conmon's stdout and stderr go to stderr");
      // 4 is the directory ls reads; the listener is not there.
      assert.deepEqual(fds, ["0", "1", "2", "3", "4"], "stdin, stdout, stderr, the sync pipe");
    },
  });
}

Deno.test("conmonCommand() runs sh, or bash to close the fds dash cannot name", () => {
  const fast = conmonCommand("/usr/bin/conmon", ["-c", "abc"], true);
  assert.equal(fast.file, "/bin/sh");
  assert.deepEqual(fast.args.slice(2), ["/usr/bin/conmon", "-c", "abc"]);
  const closing = conmonCommand("/usr/bin/conmon", ["-c", "abc"], false);
  assert.equal(closing.file, "/bin/bash");
  assert.deepEqual(closing.args.slice(2), ["/usr/bin/conmon", "-c", "abc"]);
  assert.match(closing.args[1]!, /exec \$n>&-/);
});
