import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import {
  createOciRuntime,
  type OciRuntime,
  type OciRuntimeOptions,
  RUNTIME_VERB_LIMIT,
} from "../../../src/oci/runtime.ts";
import { Limiter } from "../../../src/limit.ts";
import { ExecFiles } from "../../../src/oci/exec_files.ts";
import { writeFileAtomic } from "../../../src/store/atomic.ts";
import { OciRuntimeError } from "../../../src/oci/runtime_error.ts";
import { InvalidArgumentError, NotFoundError } from "../../../src/errors.ts";
import type { SpawnConmon } from "../../../src/oci/conmon_spawn.ts";
import { FakeCappedRunner, fakeRuncInit, FakeRunner, fakeSpawn } from "./fakes.ts";
import { processStartTime } from "../../../src/oci/direct_kill.ts";

/**
 * A runtime over `s`'s runner with its root at `<s.dir>/runc`, where a fake init
 * (`fakeRuncInit`) is given its state dir `<root>/<id>`.
 */
function fifoRuntime(
  s: { dir: string; runner: FakeRunner; execFiles: ExecFiles },
  runcInternals: boolean | Promise<boolean>,
) {
  const root = join(s.dir, "runc");
  const runtime = createOciRuntime({
    runtimePath: "/usr/sbin/runc",
    runtimeRoot: root,
    conmonPath: "/usr/bin/conmon",
    exitDir: join(s.dir, "exits"),
    socketDir: join(s.dir, "sockets"),
    logLevel: "debug",
    execFiles: s.execFiles,
    runner: s.runner,
    runcInternals,
  });
  return { root, runtime };
}

const RUNC_NOT_EXIST = 'time="2026-11-27T03:17:09Z" level=error msg="container does not exist"\n';

async function setup(
  extra: Partial<OciRuntimeOptions> & { spawnConmon?: SpawnConmon } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-oci-unit-" });
  const runner = new FakeRunner();
  const execFiles = new ExecFiles(join(dir, "exec"));
  const runtime = createOciRuntime({
    runtimePath: "/usr/sbin/runc",
    runtimeRoot: "/run/test/runc",
    conmonPath: "/usr/bin/conmon",
    exitDir: join(dir, "exits"),
    socketDir: join(dir, "sockets"),
    logLevel: "debug",
    execFiles,
    runner,
    ...extra,
  });
  return {
    dir,
    runner,
    runtime,
    execFiles,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("OciRuntime.start() runs `runc --root R start <id>` with a timeout", async () => {
  await using s = await setup({ verbTimeoutMs: 1234 });
  await s.runtime.start("abc");
  assert.deepEqual(s.runner.argv(), [["--root", "/run/test/runc", "start", "abc"]]);
  assert.equal(s.runner.calls[0]?.cmd, "/usr/sbin/runc");
  assert.equal(s.runner.calls[0]?.options?.timeoutMs, 1234);
  assert.equal(s.runner.calls[0]?.options?.check, false);
});

Deno.test("OciRuntime.start() names runtime, verb, id and stderr in its error", async () => {
  await using s = await setup();
  s.runner.answer("start", {
    code: 1,
    stderr: 'time="x" level=error msg="cannot start a container that has stopped"\n',
  });
  await assert.rejects(s.runtime.start("abc"), (err: unknown) => {
    assert.ok(err instanceof OciRuntimeError);
    assert.equal(
      err.message,
      'runc start "abc" failed: cannot start a container that has stopped',
    );
    assert.equal(err.verb, "start");
    assert.equal(err.id, "abc");
    return true;
  });
});

Deno.test("OciRuntime.start() of an unknown container throws NotFoundError", async () => {
  await using s = await setup();
  s.runner.answer("start", { code: 1, stderr: RUNC_NOT_EXIST });
  await assert.rejects(s.runtime.start("abc"), NotFoundError);
});

Deno.test("OciRuntime.kill() passes the signal and --all", async () => {
  await using s = await setup();
  await s.runtime.kill("abc", "SIGTERM");
  await s.runtime.kill("abc", "KILL", { all: true });
  assert.deepEqual(s.runner.argv(), [
    ["--root", "/run/test/runc", "kill", "abc", "SIGTERM"],
    ["--root", "/run/test/runc", "kill", "--all", "abc", "KILL"],
  ]);
});

Deno.test("OciRuntime.kill() accepts a stopped container and rejects an unknown one", async () => {
  await using s = await setup();
  s.runner.answer("kill", { code: 1, stderr: 'level=error msg="container not running"' });
  await s.runtime.kill("abc", "SIGTERM");
  s.runner.answer("kill", { code: 1, stderr: RUNC_NOT_EXIST });
  await assert.rejects(s.runtime.kill("abc", "SIGTERM"), NotFoundError);
  s.runner.answer("kill", { code: 1, stderr: "permission denied" });
  await assert.rejects(s.runtime.kill("abc", "SIGTERM"), OciRuntimeError);
});

Deno.test("OciRuntime.delete() is idempotent for runc and crun wording", async () => {
  await using s = await setup();
  s.runner.answer("delete", { code: 1, stderr: RUNC_NOT_EXIST });
  s.runner.answer("delete", {
    code: 1,
    stderr: "error opening file `/run/crun/abc/status`: No such file or directory",
  });
  await s.runtime.delete("abc");
  await s.runtime.delete("abc", { force: true });
  assert.deepEqual(s.runner.argv(), [
    ["--root", "/run/test/runc", "delete", "abc"],
    ["--root", "/run/test/runc", "delete", "--force", "abc"],
  ]);
  s.runner.answer("delete", { code: 1, stderr: "cannot delete running container" });
  await assert.rejects(s.runtime.delete("abc"), /runc delete "abc" failed: cannot delete/);
});

Deno.test("OciRuntime.state() parses runc state and is undefined for an unknown id", async () => {
  await using s = await setup();
  s.runner.answer("state", {
    stdout: JSON.stringify({
      ociVersion: "1.0.2-dev",
      id: "abc",
      pid: 42,
      status: "running",
      bundle: "/b",
      created: "2026-11-27T03:06:22Z",
    }),
  });
  s.runner.answer("state", { code: 1, stderr: RUNC_NOT_EXIST });
  assert.deepEqual(await s.runtime.state("abc"), {
    id: "abc",
    pid: 42,
    status: "running",
    bundle: "/b",
    created: "2026-11-27T03:06:22Z",
  });
  assert.equal(await s.runtime.state("abc"), undefined);
  assert.deepEqual(s.runner.argv()[0], ["--root", "/run/test/runc", "state", "abc"]);
});

Deno.test("OciRuntime.list() reads JSON and treats null as empty", async () => {
  await using s = await setup();
  s.runner.answer("list", { stdout: "null\n" });
  s.runner.answer("list", {
    stdout: JSON.stringify([{ id: "a", pid: 1, status: "created", bundle: "/a" }]),
  });
  assert.deepEqual(await s.runtime.list(), []);
  assert.deepEqual(await s.runtime.list(), [{ id: "a", pid: 1, status: "created", bundle: "/a" }]);
  assert.deepEqual(s.runner.argv()[0], ["--root", "/run/test/runc", "list", "--format", "json"]);
});

Deno.test("OciRuntime.updateResources() sends the resources as JSON on stdin", async () => {
  await using s = await setup();
  const resources = { cpu: { shares: 512 }, memory: { limit: 1048576 } };
  await s.runtime.updateResources("abc", resources);
  assert.deepEqual(s.runner.argv(), [
    ["--root", "/run/test/runc", "update", "--resources", "-", "abc"],
  ]);
  assert.deepEqual(JSON.parse(String(s.runner.calls[0]?.options?.stdin)), resources);
});

Deno.test("OciRuntime.create() spawns conmon with CRI-O's arguments and returns the pids", async () => {
  const spawn = fakeSpawn({ syncMessage: { data: 4242 }, conmonPid: 77 });
  await using s = await setup({ spawnConmon: spawn });
  const bundle = join(s.dir, "bundle");
  const persistDir = join(s.dir, "persist");
  const logPath = join(s.dir, "logs", "c.log");
  await Deno.mkdir(bundle);
  await Deno.mkdir(join(s.dir, "exits"));
  await Deno.writeTextFile(join(s.dir, "exits", "abc"), "0"); // stale exit file
  const res = await s.runtime.create({ id: "abc", bundle, persistDir, logPath, name: "k8s_x" });
  assert.deepEqual(res, { pid: 4242, conmonPid: 77 });
  assert.equal(spawn.calls[0]?.path, "/usr/bin/conmon");
  assert.equal(spawn.calls[0]?.cwd, bundle);
  const args = spawn.calls[0]?.args ?? [];
  const flag = (f: string) => args[args.indexOf(f) + 1];
  assert.equal(flag("-b"), bundle);
  assert.equal(flag("-c"), "abc");
  assert.equal(flag("-u"), "abc");
  assert.equal(flag("-n"), "k8s_x");
  assert.equal(flag("-r"), "/usr/sbin/runc");
  assert.equal(flag("--runtime-arg"), "--root=/run/test/runc");
  assert.equal(flag("-p"), join(bundle, "pidfile"));
  assert.equal(flag("-P"), join(persistDir, "conmon-pidfile"));
  assert.equal(flag("--persist-dir"), persistDir);
  assert.equal(flag("--exit-dir"), join(s.dir, "exits"));
  assert.equal(flag("-l"), `k8s-file:${logPath}`);
  assert.equal(flag("--log-level"), "debug");
  assert.equal(flag("--socket-dir-path"), join(s.dir, "sockets"));
  assert.equal(flag("--api-version"), "1");
  assert.ok(!args.includes("--syslog"));
  assert.ok(!args.includes("-t") && !args.includes("-i"));
  await assert.rejects(Deno.stat(join(s.dir, "exits", "abc")), Deno.errors.NotFound);
  assert.ok((await Deno.stat(join(s.dir, "logs"))).isDirectory);
  assert.ok((await Deno.stat(persistDir)).isDirectory);
});

Deno.test("OciRuntime.create() with a runtime error cleans up and throws its message", async () => {
  const spawn = fakeSpawn({
    syncMessage: {
      data: -1,
      message: 'time="x" level=error msg="runc create failed: exec: \\"/nope\\": not found"\n',
    },
    conmonPid: 0,
  });
  await using s = await setup({ spawnConmon: spawn });
  await Deno.mkdir(join(s.dir, "b"));
  await assert.rejects(
    s.runtime.create({
      id: "abc",
      bundle: join(s.dir, "b"),
      persistDir: join(s.dir, "p"),
      logPath: join(s.dir, "l.log"),
    }),
    (err: unknown) => {
      assert.ok(err instanceof OciRuntimeError);
      assert.equal(
        err.message,
        'runc create "abc" failed: runc create failed: exec: "/nope": not found',
      );
      return true;
    },
  );
  assert.deepEqual(s.runner.argv(), [["--root", "/run/test/runc", "delete", "--force", "abc"]]);
});

Deno.test("OciRuntime.create() when conmon itself fails wraps its error", async () => {
  const spawn = fakeSpawn(new Error("conmon failed with exit code 1: bad option"));
  await using s = await setup({ spawnConmon: spawn });
  await Deno.mkdir(join(s.dir, "b"));
  await assert.rejects(
    s.runtime.create({
      id: "abc",
      bundle: join(s.dir, "b"),
      persistDir: join(s.dir, "p"),
      logPath: join(s.dir, "l.log"),
      terminal: true,
    }),
    /runc create "abc" failed: conmon failed with exit code 1: bad option/,
  );
  assert.ok(spawn.calls[0]?.args.includes("-t"));
  assert.deepEqual(s.runner.argv(), [["--root", "/run/test/runc", "delete", "--force", "abc"]]);
});

Deno.test("OciRuntime.create() that fails removes conmon's socket-dir link, exit file and new log", async (t) => {
  for (
    const [what, outcome] of [
      ["runc refuses", { syncMessage: { data: -1, message: "runc create failed" }, conmonPid: 0 }],
      ["conmon fails", new Error("conmon failed with exit code 1")],
    ] as const
  ) {
    await t.step(what, async () => {
      const inner = fakeSpawn(outcome);
      // conmon links <socket dir>/<id> to the bundle before it runs the runtime, and may write
      // an exit file.
      const spawn: SpawnConmon = async (path, args, options) => {
        await Deno.symlink(options.cwd, join(s.dir, "sockets", "abc"));
        await Deno.writeTextFile(join(s.dir, "exits", "abc"), "1");
        await Deno.writeTextFile(join(s.dir, "l.log"), ""); // conmon opens the log first
        return await inner(path, args, options);
      };
      await using s = await setup({ spawnConmon: spawn });
      await Deno.mkdir(join(s.dir, "b"));
      await assert.rejects(
        s.runtime.create({
          id: "abc",
          bundle: join(s.dir, "b"),
          persistDir: join(s.dir, "b"),
          logPath: join(s.dir, "l.log"),
        }),
        OciRuntimeError,
      );
      assert.deepEqual(await Array.fromAsync(Deno.readDir(join(s.dir, "sockets"))), []);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(join(s.dir, "exits"))), []);
      await assert.rejects(Deno.stat(join(s.dir, "l.log")), Deno.errors.NotFound, "log made");
      assert.ok((await Deno.stat(join(s.dir, "b"))).isDirectory, "the bundle itself stays");
    });
  }
});

Deno.test("OciRuntime.create() whose ready fails throws that error and removes the log conmon made", async () => {
  const failure = new InvalidArgumentError("the user is not in the image");
  let fail = (_: unknown) => {};
  // As conmon: it opens (appends to) the log file, then waits for ready, which fails meanwhile.
  const spawn: SpawnConmon = async (_path, args, options) => {
    const log = args[args.indexOf("-l") + 1]!.replace(/^k8s-file:/, "");
    await Deno.writeTextFile(log, "", { append: true });
    fail(failure);
    await options.ready;
    throw new Error("not reached");
  };
  await using s = await setup({ spawnConmon: spawn });
  await Deno.mkdir(join(s.dir, "b"));
  const create = (logPath: string) =>
    s.runtime.create({
      id: "abc",
      bundle: join(s.dir, "b"),
      persistDir: join(s.dir, "b"),
      logPath,
      ready: new Promise((_, reject) => fail = reject),
    }).catch((e) => e);
  const fresh = join(s.dir, "logs", "fresh.log");
  assert.equal(await create(fresh), failure, "the caller's own error, not a runtime error");
  await assert.rejects(Deno.stat(fresh), Deno.errors.NotFound, "the log conmon made is gone");
  assert.deepEqual(s.runner.argv(), [], "nothing to delete: the runtime never ran");

  // A log that was there before (an earlier attempt's) stays.
  const kept = join(s.dir, "logs", "kept.log");
  await Deno.writeTextFile(kept, "earlier\n");
  assert.equal(await create(kept), failure);
  assert.equal(await Deno.readTextFile(kept), "earlier\n");
});

Deno.test("OciRuntime.execSync() runs exec --process with the container's process edited", async () => {
  const capped = new FakeCappedRunner({ code: 7, stdout: new TextEncoder().encode("out") });
  await using s = await setup({ cappedRunner: capped });
  const bundle = join(s.dir, "b");
  await Deno.mkdir(bundle);
  await Deno.writeTextFile(
    join(bundle, "config.json"),
    JSON.stringify({
      process: {
        terminal: true,
        args: ["sleep", "1"],
        env: ["A=1"],
        cwd: "/",
        user: { uid: 0, gid: 0 },
        capabilities: { bounding: ["CAP_KILL"] },
      },
    }),
  );
  s.runner.answer("state", {
    stdout: JSON.stringify({ id: "abc", pid: 9, status: "running", bundle }),
  });
  const res = await s.runtime.execSync("abc", {
    args: ["echo", "hi"],
    cwd: "/tmp",
    timeoutMs: 5000,
  });
  assert.deepEqual(res, {
    exitCode: 7,
    stdout: new TextEncoder().encode("out"),
    stderr: new Uint8Array(),
    timedOut: false,
    truncated: false,
  });
  const call = capped.calls[0]!;
  assert.equal(call.cmd, "/usr/sbin/runc");
  assert.deepEqual(call.args.slice(0, 4), ["--root", "/run/test/runc", "exec", "--process"]);
  assert.equal(call.args[5], "--pid-file");
  assert.equal(call.args.at(-1), "abc");
  assert.equal(call.options.timeoutMs, 5000);
  assert.equal(call.options.maxOutputBytes, 16 * 1024 * 1024);
  assert.deepEqual(call.process, {
    terminal: false,
    args: ["echo", "hi"],
    env: ["A=1"],
    cwd: "/tmp",
    user: { uid: 0, gid: 0 },
    capabilities: { bounding: ["CAP_KILL"] },
  });
  // The process file is in the exec dir, and removed afterwards.
  assert.equal(dirname(call.args[4]!), join(s.dir, "exec"));
  await s.execFiles.settled();
  assert.deepEqual(await Array.fromAsync(Deno.readDir(join(s.dir, "exec"))), []);
});

Deno.test("OciRuntime.execSync() sees a rewritten config.json (UpdateContainerResources)", async () => {
  const capped = new FakeCappedRunner();
  await using s = await setup({ cappedRunner: capped });
  const bundle = join(s.dir, "b");
  await Deno.mkdir(bundle);
  const config = join(bundle, "config.json");
  await Deno.writeTextFile(config, JSON.stringify({ process: { env: ["A=1"], cwd: "/" } }));
  await s.runtime.execSync("abc", { args: ["true"], bundle, timeoutMs: 5000 });
  await s.runtime.execSync("abc", { args: ["false"], bundle, timeoutMs: 5000 });
  await writeFileAtomic(config, JSON.stringify({ process: { env: ["A=2"], cwd: "/" } }));
  await s.runtime.execSync("abc", { args: ["true"], bundle, timeoutMs: 5000 });
  assert.deepEqual(capped.calls.map((c) => c.process), [
    { env: ["A=1"], cwd: "/", terminal: false, args: ["true"] },
    { env: ["A=1"], cwd: "/", terminal: false, args: ["false"] },
    { env: ["A=2"], cwd: "/", terminal: false, args: ["true"] },
  ]);
  assert.equal(s.runner.calls.length, 0, "the bundle was given: no `state`");
  await s.execFiles.settled();
  assert.deepEqual(await Array.fromAsync(Deno.readDir(join(s.dir, "exec"))), []);
});

Deno.test("OciRuntime.execSync() of an unknown container throws NotFoundError", async () => {
  await using s = await setup();
  s.runner.answer("state", { code: 1, stderr: RUNC_NOT_EXIST });
  await assert.rejects(
    s.runtime.execSync("abc", { args: ["true"], timeoutMs: 100 }),
    NotFoundError,
  );
});

Deno.test("OciRuntime.reopenLog() fails fast when no conmon reads the ctl fifo", async () => {
  await using s = await setup();
  const bundle = join(s.dir, "b");
  await Deno.mkdir(bundle);
  const mk = await new Deno.Command("mkfifo", { args: [join(bundle, "ctl")] }).output();
  assert.ok(mk.success, "mkfifo works");
  await assert.rejects(
    s.runtime.reopenLog("abc", { bundle }),
    /Cannot write to control fifo ".*ctl": conmon is not running/,
  );
});

Deno.test('OciRuntime.reopenLog() writes "2 0 0" to the ctl fifo', async () => {
  await using s = await setup();
  const bundle = join(s.dir, "b");
  await Deno.mkdir(bundle);
  const fifo = join(bundle, "ctl");
  const mk = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.ok(mk.success, "mkfifo works");
  // Read end opened read-write so it does not block and stays a reader.
  const reader = await Deno.open(fifo, { read: true, write: true });
  try {
    await s.runtime.reopenLog("abc", { bundle });
    const buf = new Uint8Array(16);
    const n = await reader.read(buf);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "2 0 0\n");
  } finally {
    reader.close();
  }
});

Deno.test("OciRuntime.conmonAlive() is false for a pid that is not conmon", async () => {
  await using s = await setup();
  assert.equal(await s.runtime.conmonAlive(Deno.pid), false);
  assert.equal(await s.runtime.conmonAlive(0), false);
  assert.equal(await s.runtime.conmonAlive(-5), false);
});

Deno.test("OciRuntime's short verbs share a bound", async () => {
  const verbs = new Limiter(2);
  let running = 0;
  let most = 0;
  const runner = new FakeRunner();
  const run = runner.run.bind(runner);
  runner.run = async (cmd, args, options) => {
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 2));
    running--;
    return await run(cmd, args, options);
  };
  await using s = await setup({ runner, verbs });
  await Promise.all(["a", "b", "c", "d", "e"].map((id) => s.runtime.kill(id, "KILL")));
  assert.equal(most, 2);
  assert.equal(runner.calls.length, 5);
  assert.ok(RUNTIME_VERB_LIMIT >= 4);
});

Deno.test("OciRuntime.execSync() does not hold a verb's place while its command runs", async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const capped = new FakeCappedRunner();
  const cappedRun = capped.run.bind(capped);
  capped.run = async (cmd, args, options) => {
    const result = await cappedRun(cmd, args, options);
    await held;
    return result;
  };
  await using s = await setup({ cappedRunner: capped, verbs: new Limiter(1) });
  const bundle = join(s.dir, "b");
  await Deno.mkdir(bundle);
  await Deno.writeTextFile(
    join(bundle, "config.json"),
    JSON.stringify({ process: { args: ["sleep", "1"], cwd: "/", user: { uid: 0, gid: 0 } } }),
  );
  s.runner.answer("state", {
    stdout: JSON.stringify({ id: "abc", pid: 9, status: "running", bundle }),
  });
  const exec = s.runtime.execSync("abc", { args: ["sleep", "60"], timeoutMs: 60_000 });
  while (capped.calls.length === 0) await new Promise((r) => setTimeout(r, 1));
  await s.runtime.kill("other", "KILL");
  release();
  assert.equal((await exec).exitCode, 0);
});

Deno.test("OciRuntime.start() of runc starts through the exec FIFO, without a runc process", async () => {
  await using s = await setup();
  const { root, runtime } = fifoRuntime(s, Promise.resolve(true));
  await using init = await fakeRuncInit({ stateDir: join(root, "abc") });
  await runtime.start("abc", { pid: init.child.pid, bundle: init.bundle });
  assert.deepEqual(s.runner.argv(), []);
  assert.equal((await Deno.readTextFile(`/proc/${init.child.pid}/comm`)).trim(), "sleep");
});

Deno.test("OciRuntime.start() runs `runc start` without the FIFO start, or when it cannot answer", async () => {
  await using s = await setup();
  const root = join(s.dir, "runc");
  const make = (runcInternals: boolean) => fifoRuntime(s, runcInternals).runtime;
  {
    // Not runc (crun's FIFO goes the other way).
    await using init = await fakeRuncInit({ stateDir: join(root, "a") });
    await make(false).start("a", { pid: init.child.pid, bundle: init.bundle });
  }
  {
    // runc, and a poststart hook, which `runc start` runs (runc 1.2).
    await using init = await fakeRuncInit({
      stateDir: join(root, "b"),
      hooks: { poststart: [{ path: "/bin/true" }] },
    });
    await make(true).start("b", { pid: init.child.pid, bundle: init.bundle });
  }
  // runc, no pid and bundle given (the infra container's start).
  await make(true).start("c");
  assert.deepEqual(s.runner.argv(), [
    ["--root", root, "start", "a"],
    ["--root", root, "start", "b"],
    ["--root", root, "start", "c"],
  ]);
});

Deno.test("OciRuntime.start() through the FIFO names runtime, verb and id when the init died", async () => {
  await using s = await setup();
  const { root, runtime } = fifoRuntime(s, true);
  await using init = await fakeRuncInit({
    stateDir: join(root, "abc"),
    script: "sleep 0.3; exit 1",
  });
  await assert.rejects(
    runtime.start("abc", { pid: init.child.pid, bundle: init.bundle }),
    (err: unknown) => {
      assert.ok(err instanceof OciRuntimeError);
      assert.equal(err.message, 'runc start "abc" failed: container process is already dead');
      return true;
    },
  );
  assert.deepEqual(s.runner.argv(), []);
});

Deno.test("OciRuntime.delete() of runc removes a stopped container's state itself, else runs `runc delete`", async () => {
  await using s = await setup();
  const { root, runtime } = fifoRuntime(s, true);
  const write = async (id: string, state: object) => {
    await Deno.mkdir(join(root, id), { recursive: true });
    await Deno.writeTextFile(join(root, id, "state.json"), JSON.stringify(state));
  };
  const stopped = {
    init_process_pid: 999_999_999,
    init_process_start: 1,
    rootless: false,
    cgroup_paths: { pids: "/sys/fs/cgroup/pids/ocid-unit-absent/x" },
    intel_rdt_path: "",
    config: {
      namespaces: [{ type: "NEWPID", path: "" }],
      cgroups: { Systemd: false },
      Hooks: { poststop: null },
    },
  };
  await write("gone", stopped);
  await runtime.delete("gone", { force: true });
  await runtime.delete("never-made");
  assert.deepEqual(s.runner.argv(), [], "no runc for a stopped container, or an unknown one");
  await assert.rejects(Deno.lstat(join(root, "gone")), Deno.errors.NotFound);

  await write("hooked", { ...stopped, config: { ...stopped.config, Hooks: { poststop: [{}] } } });
  await runtime.delete("hooked", { force: true });
  await fifoRuntime(s, false).runtime.delete("plain", { force: true });
  assert.deepEqual(s.runner.argv(), [
    ["--root", root, "delete", "--force", "hooked"],
    ["--root", root, "delete", "--force", "plain"],
  ]);
});

Deno.test("OciRuntime.kill() signals the init directly when given it, else runs `runc kill`", async () => {
  await using s = await setup();
  const child = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" })
    .spawn();
  try {
    const startTime = (await processStartTime(child.pid))!;
    const init = { pid: child.pid, startTime };
    // `--all`, or a signal with no Deno name: the runtime's.
    await s.runtime.kill("abc", "KILL", { all: true, init });
    await s.runtime.kill("abc", "SIGRTMIN+3", { init });
    // No init given (a record from before it was kept): the runtime's.
    await s.runtime.kill("abc", "TERM");
    assert.deepEqual(s.runner.argv(), [
      ["--root", "/run/test/runc", "kill", "--all", "abc", "KILL"],
      ["--root", "/run/test/runc", "kill", "abc", "SIGRTMIN+3"],
      ["--root", "/run/test/runc", "kill", "abc", "TERM"],
    ]);
    await s.runtime.kill("abc", "TERM", { init });
    assert.equal((await child.status).signal, "SIGTERM");
    // Gone: nothing to signal, as runc's "not running"; no runc either.
    await s.runtime.kill("abc", "KILL", { init });
    assert.equal(s.runner.argv().length, 3);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* ended */ }
    await child.status;
  }
});

/** Creates container "abc" through `s`'s runtime in a bundle of its own; returns the bundle. */
async function createAbc(s: { dir: string; runtime: OciRuntime }): Promise<string> {
  const bundle = join(s.dir, "bundle");
  await Deno.mkdir(bundle);
  await Deno.writeTextFile(join(bundle, "config.json"), JSON.stringify({ process: {} }));
  await s.runtime.create({
    id: "abc",
    bundle,
    persistDir: join(s.dir, "persist"),
    logPath: join(s.dir, "logs", "c.log"),
  });
  return bundle;
}

Deno.test("OciRuntime warms the cgroup attach lock before conmon's spawn and runc exec, and nowhere else", async () => {
  const spawn = fakeSpawn({ syncMessage: { data: 4242 }, conmonPid: 77 });
  const capped = new FakeCappedRunner();
  // What had run when each warm began: conmon spawns and runc execs.
  const warms: Array<[number, number]> = [];
  await using s = await setup({
    spawnConmon: spawn,
    cappedRunner: capped,
    attachWarmer: { warm: () => warms.push([spawn.calls.length, capped.calls.length]) },
  });
  const bundle = await createAbc(s);
  assert.deepEqual(warms, [[0, 0]]);
  await s.runtime.execSync("abc", { args: ["true"], bundle, timeoutMs: 1000 });
  assert.deepEqual(warms, [[0, 0], [1, 0]]);
  assert.equal(capped.calls.length, 1);
  // With a bundle made meanwhile: once more when the runtime is let go.
  const ready = Promise.withResolvers<void>();
  const creating = s.runtime.create({
    id: "def",
    bundle,
    persistDir: join(s.dir, "persist2"),
    logPath: join(s.dir, "logs", "d.log"),
    ready: ready.promise,
  });
  await creating; // the fake conmon does not wait for `ready`
  assert.deepEqual(warms.slice(2), [[1, 1]]);
  ready.resolve();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(warms.slice(2), [[1, 1], [2, 1]]);
  // Verbs that move no process into a cgroup do not warm.
  s.runner.answer("state", {
    stdout: JSON.stringify({ id: "abc", pid: 9, status: "running", bundle }),
  });
  await s.runtime.start("abc");
  await s.runtime.kill("abc", "TERM");
  await s.runtime.state("abc");
  await s.runtime.updateResources("abc", {});
  await s.execFiles.settled();
  assert.equal(warms.length, 4);
});

Deno.test("OciRuntime runs create (conmon -r) and ExecSync from its launch binary, other verbs from the file", async () => {
  const spawn = fakeSpawn({ syncMessage: { data: 4242 }, conmonPid: 77 });
  const capped = new FakeCappedRunner();
  await using s = await setup({
    spawnConmon: spawn,
    cappedRunner: capped,
    launchBinary: { path: () => Promise.resolve("/run/test/runtimes/runc/runc") },
  });
  const bundle = await createAbc(s);
  const args = spawn.calls[0]!.args;
  assert.equal(args[args.indexOf("-r") + 1], "/run/test/runtimes/runc/runc");
  await s.runtime.execSync("abc", { args: ["true"], bundle, timeoutMs: 1000 });
  assert.equal(capped.calls[0]!.cmd, "/run/test/runtimes/runc/runc");
  await s.execFiles.settled();
  s.runner.answer("state", {
    stdout: JSON.stringify({ id: "abc", pid: 9, status: "running", bundle }),
  });
  await s.runtime.kill("abc", "TERM");
  await s.runtime.state("abc");
  assert.ok(s.runner.calls.length >= 2);
  for (const call of s.runner.calls) assert.equal(call.cmd, "/usr/sbin/runc");
});
