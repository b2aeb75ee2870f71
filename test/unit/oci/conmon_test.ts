import assert from "node:assert/strict";
import { join } from "node:path";
import { conmonCreateArgs } from "../../../src/oci/conmon_args.ts";
import { parseSyncMessage, spawnConmon } from "../../../src/oci/conmon_spawn.ts";
import { cleanStderr } from "../../../src/oci/runtime_error.ts";

const base = {
  id: "c1",
  bundle: "/b",
  persistDir: "/p",
  logPath: "/l/c1.log",
  runtimePath: "/usr/sbin/runc",
  runtimeRoot: "/r",
  exitDir: "/e",
  socketDir: "/s",
  logLevel: "info",
};

Deno.test("conmonCreateArgs() builds CRI-O's command line", () => {
  assert.deepEqual(conmonCreateArgs(base), [
    ...["-b", "/b", "-c", "c1", "-u", "c1", "-n", "c1", "-r", "/usr/sbin/runc"],
    ...["--runtime-arg", "--root=/r", "-p", "/b/pidfile", "-P", "/p/conmon-pidfile"],
    ...["--persist-dir", "/p", "--exit-dir", "/e", "-l", "k8s-file:/l/c1.log"],
    ...["--log-level", "info", "--socket-dir-path", "/s", "--api-version", "1"],
  ]);
});

Deno.test("conmonCreateArgs() adds terminal, stdin and log size flags", () => {
  const tail = (o: Partial<Parameters<typeof conmonCreateArgs>[0]>) =>
    conmonCreateArgs({ ...base, ...o }).slice(conmonCreateArgs(base).length);
  assert.deepEqual(tail({ terminal: true, stdin: true }), ["-t"]);
  assert.deepEqual(tail({ stdin: true }), ["-i", "--leave-stdin-open"]);
  assert.deepEqual(tail({ stdin: true, stdinOnce: true }), ["-i"]);
  assert.deepEqual(tail({ logSizeMax: 1024 }), ["--log-size-max", "1024"]);
  assert.deepEqual(tail({ logSizeMax: -1 }), []);
});

Deno.test("parseSyncMessage() keeps data, pid and message", () => {
  assert.deepEqual(parseSyncMessage('{"data": 2951}'), { data: 2951 });
  assert.deepEqual(parseSyncMessage('{"data": -1, "message": "boom", "x": 1}'), {
    data: -1,
    message: "boom",
  });
  assert.deepEqual(parseSyncMessage('{"pid": 5}'), { pid: 5 });
  assert.throws(() => parseSyncMessage("nope"), SyntaxError);
});

Deno.test("cleanStderr() keeps the msg of runc's logrus lines", () => {
  assert.equal(
    cleanStderr('time="t" level=error msg="a \\"b\\" c"\ntime="t" level=fatal msg="d"\n'),
    'a "b" c; d',
  );
  assert.equal(cleanStderr("  plain words\n"), "plain words");
});

/**
 * A stand-in for conmon: writes the -P pidfile and a line on the sync pipe, like conmon's first
 * step (bash: the pipe's fd may be above 9).
 */
const FAKE = `
  while [ $# -gt 0 ]; do [ "$1" = -P ] && pidfile=$2; shift; done
  printf %s $$ > "$pidfile"
  case "$MODE" in
    ok) echo '{"data": 99}' >&"$_OCI_SYNCPIPE" ;;
    fail) echo '{"data": -1, "message": "runtime said no"}' >&"$_OCI_SYNCPIPE" ;;
    crash) echo "bad option" >&2; exit 2 ;;
    hang) exec sleep 30 ;;
  esac
`;

async function runFake(mode: string, timeoutMs = 30_000) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-conmon-" });
  try {
    return await spawnConmon("/bin/bash", ["-c", FAKE, "bash", "-P", join(dir, "pid")], {
      env: { MODE: mode, PATH: "/usr/bin:/bin" },
      cwd: dir,
      timeoutMs,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("spawnConmon() returns the sync message and the pid from the -P file", async () => {
  const ok = await runFake("ok");
  assert.deepEqual(ok.syncMessage, { data: 99 });
  assert.ok(ok.conmonPid > 0 && ok.conmonPid !== Deno.pid, "pid read from the -P file");
  const fail = await runFake("fail");
  assert.deepEqual(fail.syncMessage, { data: -1, message: "runtime said no" });
});

Deno.test("spawnConmon() throws conmon's stderr when its first process fails", async () => {
  await assert.rejects(runFake("crash"), /conmon failed with exit code 2: bad option/);
});

Deno.test("spawnConmon() kills a conmon that does not answer in time", async () => {
  await assert.rejects(runFake("hang", 200), /conmon did not answer within 200 ms/);
});

Deno.test("spawnConmon() throws when the binary is missing", async () => {
  await assert.rejects(
    spawnConmon("/nonexistent/conmon", [], { env: {}, cwd: "/", timeoutMs: 5000 }),
    /ENOENT/,
  );
});
