import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { conmonCommand, spawnConmon } from "../../../src/oci/conmon_spawn.ts";

/**
 * Runs `fn` while this process holds a node:net listener: an fd Deno leaves inheritable, like
 * the CRI socket, which conmon must not get.
 */
async function withListener<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-conmon-command-" });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(dir, "s.sock"), resolve));
  try {
    return await fn(dir);
  } finally {
    await new Promise((resolve) => server.close(resolve));
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "spawnConmon() spawns conmon itself with the sync pipe and no other fd of the daemon",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A stand-in for conmon: answers on the sync pipe, says which program it is, then a program
    // it runs lists the fds it got, and it fails so that spawnConmon reports its stderr.
    const standIn = 'echo \'{"data": 7}\' >&"$_OCI_SYNCPIPE"; echo "sync=$_OCI_SYNCPIPE" >&2; ' +
      "tr '\\0' ' ' </proc/$$/cmdline >&2; echo >&2; ls /proc/self/fd >&2; exit 3";
    const err = await withListener((dir) =>
      spawnConmon("/bin/bash", ["-c", standIn, "conmon", "-P", join(dir, "pid")], {
        env: { PATH: "/usr/bin:/bin" },
        cwd: dir,
      }).then(() => undefined, (e: Error) => e)
    );
    assert.ok(err, "the stand-in exits 3");
    const lines = err.message.replace(/^conmon failed with exit code 3: /, "").split("\n");
    const sync = lines[0]!.match(/sync=(\d+)$/)?.[1];
    assert.ok(sync && Number(sync) > 3, `the sync pipe keeps its own number: ${lines[0]}`);
    assert.match(lines[1]!, /^\/bin\/bash -c /, "the spawned program is conmon itself, no sh");
    // 3 is the directory ls reads; the listener is not there.
    assert.deepEqual(lines.slice(2).sort(), ["0", "1", "2", "3", sync].sort());
  },
});

Deno.test({
  name: "conmonCommand()'s bash step gives conmon the stdout pipe as fd 3 and no other fd",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const standIn = "echo sync >&3; echo out; echo err >&2; exec ls /proc/self/fd >&2";
    const out = await withListener(() => {
      const { file, args } = conmonCommand("/bin/sh", ["-c", standIn], null);
      return new Deno.Command(file, { args, stdin: "null", stdout: "piped", stderr: "piped" })
        .output();
    });
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    assert.equal(out.code, 0);
    assert.equal(decode(out.stdout), "sync\n", "fd 3 is the stdout pipe: the sync pipe");
    const [o, e, ...fds] = decode(out.stderr).trim().split("\n");
    assert.deepEqual([o, e], ["out", "err"], "conmon's stdout and stderr go to stderr");
    // 4 is the directory ls reads; the listener is not there.
    assert.deepEqual(fds, ["0", "1", "2", "3", "4"], "stdin, stdout, stderr, the sync pipe");
  },
});

Deno.test("conmonCommand() runs conmon itself with an inherited pipe, else a bash step", () => {
  const direct = conmonCommand("/usr/bin/conmon", ["-c", "abc"], 17);
  assert.deepEqual(direct, {
    file: "/usr/bin/conmon",
    args: ["-c", "abc"],
    syncPipe: "17",
    stdout: "null",
  });
  const closing = conmonCommand("/usr/bin/conmon", ["-c", "abc"], null);
  assert.equal(closing.file, "/bin/bash");
  assert.deepEqual(closing.args.slice(2), ["/usr/bin/conmon", "-c", "abc"]);
  assert.match(closing.args[1]!, /exec \$n>&-/);
  assert.equal(closing.syncPipe, "3");
  assert.equal(closing.stdout, "piped");
});
