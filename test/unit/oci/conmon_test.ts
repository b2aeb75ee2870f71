import assert from "node:assert/strict";
import { join } from "node:path";
import { conmonCreateArgs } from "../../../src/oci/conmon_args.ts";
import { parseSyncMessage, spawnConmon } from "../../../src/oci/conmon_spawn.ts";
import { cleanStderr } from "../../../src/oci/runtime_error.ts";
import { waitFor } from "../../helpers/checks.ts";

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
  [ -n "$STARTED" ] && printf %s $$ > "$STARTED"
  [ -n "$_OCI_STARTPIPE" ] && head -c1 <&"$_OCI_STARTPIPE" >/dev/null
  printf %s $$ > "$pidfile"
  case "$MODE" in
    ok) echo '{"data": 99}' >&"$_OCI_SYNCPIPE" ;;
    fail) echo '{"data": -1, "message": "runtime said no"}' >&"$_OCI_SYNCPIPE" ;;
    crash) echo "bad option" >&2; exit 2 ;;
    hang) exec sleep 30 ;;
  esac
`;

async function runFake(
  mode: string,
  timeoutMs = 30_000,
  gate?: (dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-conmon-" });
  try {
    return await spawnConmon("/bin/bash", ["-c", FAKE, "bash", "-P", join(dir, "pid")], {
      env: { MODE: mode, PATH: "/usr/bin:/bin", STARTED: join(dir, "started") },
      cwd: dir,
      timeoutMs,
      ...(gate ? { ready: gate(dir) } : {}),
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

/** The text of `path` once the stand-in wrote it (before it waits on its start pipe). */
const written = (path: string) => waitFor(`${path} to be written`, () => Deno.readTextFile(path));

Deno.test("spawnConmon() with ready: conmon starts at once and goes on only when ready", async () => {
  const ok = await runFake("ok", 30_000, async (dir) => {
    const started = await written(join(dir, "started"));
    assert.ok(Number(started) > 0, "conmon runs while the caller prepares");
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(Deno.stat(join(dir, "pid")), Deno.errors.NotFound, "it waits");
  });
  assert.deepEqual(ok.syncMessage, { data: 99 });
  assert.ok(ok.conmonPid > 0);
});

Deno.test("spawnConmon() with ready that fails: conmon is killed, the same error is thrown", async () => {
  const failure = new Error("the bundle could not be made");
  let pid = 0;
  const err = await runFake("ok", 30_000, async (dir) => {
    pid = Number(await written(join(dir, "started")));
    throw failure;
  }).then(() => undefined, (e) => e);
  assert.equal(err, failure);
  assert.ok(pid > 0);
  await assert.rejects(Deno.stat(`/proc/${pid}`), Deno.errors.NotFound, "conmon is gone");
});

Deno.test("spawnConmon() without FFI takes the bash step, and spawns only once ready", async () => {
  // A child Deno without --allow-ffi: no inherited pipes, so the bash step gives the stand-in
  // its sync pipe at fd 3; with ready, the stand-in is spawned only after ready resolved.
  const url = new URL("../../../src/oci/conmon_spawn.ts", import.meta.url).href;
  const dir = await Deno.makeTempDir({ prefix: "ocid-conmon-noffi-" });
  try {
    const script = join(dir, "spawn.ts");
    await Deno.writeTextFile(
      script,
      `import { spawnConmon } from "${url}";
      const fake = ${JSON.stringify(FAKE)};
      const spawn = (ready: Promise<void>) =>
        spawnConmon("/bin/bash", ["-c", fake, "bash", "-P", "${join(dir, "pid")}"], {
          env: { MODE: "ok", PATH: "/usr/bin:/bin", STARTED: "${join(dir, "started")}" },
          cwd: "${dir}",
          ready,
        });
      const ok = await spawn(new Promise((r) => setTimeout(r, 100)).then(async () => {
        // Not spawned yet: the stand-in writes this file first thing.
        console.log("started before ready:", await Deno.stat("${
        join(dir, "started")
      }").then(() => true, () => false));
      }));
      console.log("sync:", JSON.stringify(ok.syncMessage));
      const failure = new Error("no bundle");
      console.log("same error:", await spawn(Promise.reject(failure)).catch((e) => e === failure));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-lock",
        "--allow-read",
        "--allow-write",
        "--allow-run",
        "--allow-env",
        script,
      ],
      stdin: "null",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(
      stdout,
      'started before ready: false\nsync: {"data":99}\nsame error: true\n',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
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
