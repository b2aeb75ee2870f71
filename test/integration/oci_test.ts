/**
 * conmon + runc for real: create, start, logs, exits, kill, delete, exec, reopen log, and a
 * failing create. Needs root, conmon, runc and a static busybox. Every container, conmon and
 * dir a test makes is removed in its `finally`, even when an assertion fails.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeBundle, type MakeBundleOptions } from "../helpers/bundle.ts";
import { waitForSignalHandler } from "../helpers/checks.ts";
import {
  createOciRuntime,
  ExecFiles,
  type ExitStatus,
  ExitWatcher,
  type OciRuntime,
  OciRuntimeError,
} from "../../src/oci/mod.ts";
import { INIT_COMM } from "../../src/oci/exec_fifo.ts";
import { deleteStopped } from "../../src/oci/direct_delete.ts";

const RUNC = "/usr/sbin/runc";
const CRUN = "/usr/bin/crun";
const CONMON = "/usr/bin/conmon";
/** Bound on waits for an event that must happen; reaching it fails the test with a reason. */
const WAIT_MS = 30_000;

/** A temp dir with a runtime root, an exit dir and a watcher; disposes of all it created. */
class Fixture {
  readonly dir: string;
  readonly runtime: OciRuntime;
  readonly execFiles: ExecFiles;
  readonly watcher: ExitWatcher;
  readonly exits = new Map<string, ExitStatus>();
  #waiters = new Map<string, (s: ExitStatus) => void>();
  #ids: string[] = [];
  #conmons: number[] = [];

  private constructor(dir: string, runtimePath: string, runcInternals: boolean) {
    this.dir = dir;
    this.execFiles = new ExecFiles(join(dir, "exec"));
    this.runtime = createOciRuntime({
      runtimePath,
      runtimeRoot: join(dir, "runtime-root"),
      conmonPath: CONMON,
      exitDir: join(dir, "exits"),
      socketDir: join(dir, "sockets"),
      logLevel: "info",
      execFiles: this.execFiles,
      runcInternals,
    });
    this.watcher = new ExitWatcher(join(dir, "exits"), {
      onExit: (id, status) => {
        this.exits.set(id, status);
        this.#waiters.get(id)?.(status);
      },
    });
  }

  static async open(runtimePath = RUNC, opts: { runcInternals?: boolean } = {}): Promise<Fixture> {
    const dir = await Deno.makeTempDir({ prefix: "ocid-oci-test-" });
    const f = new Fixture(dir, runtimePath, opts.runcInternals ?? false);
    await f.watcher.start();
    return f;
  }

  /** Makes a bundle and creates a container from it; the id is cleaned up at dispose. */
  async create(id: string, bundleOpts: MakeBundleOptions = {}) {
    const bundle = await makeBundle(this.dir, `bundle-${id}`, bundleOpts);
    const persistDir = join(this.dir, "persist", id);
    const logPath = join(this.dir, "logs", `${id}.log`);
    this.#ids.push(id);
    const t0 = performance.now();
    const res = await this.runtime.create({ id, bundle, persistDir, logPath });
    const ms = performance.now() - t0;
    this.#conmons.push(res.conmonPid);
    return { ...res, bundle, persistDir, logPath, ms };
  }

  /** Records a conmon pid to kill at dispose (for creates that threw). */
  trackConmon(pid: number) {
    if (pid > 0) this.#conmons.push(pid);
  }

  /** Resolves with the exit of `id`, or rejects after WAIT_MS with a reason. */
  waitExit(id: string): Promise<ExitStatus> {
    const known = this.exits.get(id);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(new Error(`No exit file for "${id}" within ${WAIT_MS} ms`));
      }, WAIT_MS);
      this.#waiters.set(id, (s) => {
        clearTimeout(timer);
        this.#waiters.delete(id);
        resolve(s);
      });
    });
  }

  async [Symbol.asyncDispose]() {
    for (const id of this.#ids) {
      await this.runtime.kill(id, "KILL", { all: true }).catch(() => {});
      await this.runtime.delete(id, { force: true }).catch(() => {});
    }
    for (const pid of this.#conmons) {
      if (await this.runtime.conmonAlive(pid)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
    await this.watcher.close();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

const decode = (b: Uint8Array) => new TextDecoder().decode(b);

/** Polls `check` until it returns a value; fails after WAIT_MS saying what was awaited. */
async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pids in the container, from `runc ps --format json`. */
async function containerPids(root: string, id: string): Promise<number[]> {
  const out = await new Deno.Command(RUNC, {
    args: ["--root", root, "ps", "--format", "json", id],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`runc ps "${id}" failed: ${decode(out.stderr)}`);
  return JSON.parse(decode(out.stdout)) as number[];
}

Deno.test("OciRuntime.create() and start() run a container whose exit and logs conmon records", async () => {
  await using f = await Fixture.open();
  const c = await f.create("life", {
    args: ["sh", "-c", "echo hello; echo oops >&2; exit 3"],
  });
  assert.ok(c.pid > 0, "pid from the sync pipe");
  assert.ok(await f.runtime.conmonAlive(c.conmonPid), "conmon runs");
  const created = await f.runtime.state("life");
  assert.equal(created?.status, "created");
  assert.equal(created?.pid, c.pid);

  const t0 = performance.now();
  await f.runtime.start("life");
  const startMs = performance.now() - t0;
  console.log(`create ${c.ms.toFixed(1)} ms, start ${startMs.toFixed(1)} ms`);

  const exit = await f.waitExit("life");
  assert.equal(exit.exitCode, 3);
  assert.ok(exit.finishedAt instanceof Date && exit.finishedAt.getTime() > 0);
  assert.equal((await f.watcher.read("life"))?.exitCode, 3);
  assert.equal((await f.runtime.state("life"))?.status, "stopped");

  const log = await until("both log lines", async () => {
    const t = await Deno.readTextFile(c.logPath).catch(() => "");
    return t.includes("oops") && t.includes("hello") ? t : undefined;
  });
  const lines = log.trimEnd().split("\n");
  const cri = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d (stdout|stderr) (F|P) (.*)$/;
  const parsed = lines.map((l) => cri.exec(l)).map((m) => m && [m[1], m[2], m[3]]);
  assert.deepEqual(parsed.find((p) => p?.[2] === "hello"), ["stdout", "F", "hello"]);
  assert.deepEqual(parsed.find((p) => p?.[2] === "oops"), ["stderr", "F", "oops"]);
  assert.equal(await Deno.readTextFile(join(c.persistDir, "exit")), "3");

  await f.runtime.delete("life");
  assert.equal(await f.runtime.state("life"), undefined);
  await f.runtime.delete("life"); // idempotent
  assert.deepEqual(await f.runtime.list(), []);
});

Deno.test("OciRuntime.start() of runc through the exec FIFO: runc agrees it runs, conmon records it", async () => {
  await using f = await Fixture.open(RUNC, { runcInternals: true });
  const c = await f.create("fifo", {
    args: ["sh", "-c", "echo started; exec sleep 30"],
  });
  // runc's init waits in the FIFO's open under the name the direct start checks.
  assert.equal((await Deno.readTextFile(`/proc/${c.pid}/comm`)).trim(), INIT_COMM);
  assert.equal((await f.runtime.state("fifo"))?.status, "created");
  const stateDir = join(f.dir, "runtime-root", "fifo");
  assert.equal((await Deno.lstat(join(stateDir, "exec.fifo"))).isFifo, true);

  await f.runtime.start("fifo", { pid: c.pid, bundle: c.bundle });
  // runc's own view: the FIFO is gone and the process runs the command.
  assert.equal((await f.runtime.state("fifo"))?.status, "running");
  await assert.rejects(Deno.lstat(join(stateDir, "exec.fifo")), Deno.errors.NotFound);
  assert.notEqual((await Deno.readTextFile(`/proc/${c.pid}/comm`)).trim(), INIT_COMM);
  await until("the container's output", async () => {
    const log = await Deno.readTextFile(c.logPath).catch(() => "");
    return log.includes("started") ? log : undefined;
  });
  // A second start is refused in runc's words (no FIFO: `runc start` answers).
  await assert.rejects(
    f.runtime.start("fifo", { pid: c.pid, bundle: c.bundle }),
    /cannot start an already running container/,
  );
  await f.runtime.kill("fifo", "KILL");
  assert.equal((await f.waitExit("fifo")).exitCode, 137);
});

Deno.test("OciRuntime.start() through the exec FIFO of a container whose init died gets runc's answer", async () => {
  await using f = await Fixture.open(RUNC, { runcInternals: true });
  const c = await f.create("dead", { args: ["true"] });
  Deno.kill(c.pid, "SIGKILL");
  await f.waitExit("dead");
  await assert.rejects(
    f.runtime.start("dead", { pid: c.pid, bundle: c.bundle }),
    (err: unknown) => {
      assert.ok(err instanceof OciRuntimeError, String(err));
      assert.match(
        err.message,
        /^runc start "dead" failed: cannot start a container that has stopped/,
      );
      return true;
    },
  );
});

Deno.test("deleteStopped() of an exited runc container leaves what `runc delete` leaves", async () => {
  await using f = await Fixture.open(RUNC, { runcInternals: true });
  const stateDir = join(f.dir, "runtime-root", "del");
  const c = await f.create("del", { args: ["sh", "-c", "sleep 30 & wait"] });
  await f.runtime.start("del", { pid: c.pid, bundle: c.bundle });
  // Before the exit: the init runs, so runc must answer (it would kill it first).
  assert.equal(await deleteStopped(stateDir), undefined);
  assert.equal((await f.runtime.state("del"))?.status, "running");
  // The init ends; the child it left dies with its PID namespace.
  Deno.kill(c.pid, "SIGKILL");
  assert.equal((await f.waitExit("del")).exitCode, 137);
  const cgroups = Object.values(
    JSON.parse(await Deno.readTextFile(join(stateDir, "state.json"))).cgroup_paths,
  ) as string[];
  assert.ok(cgroups.length > 0);
  for (const dir of cgroups) assert.ok((await Deno.lstat(dir)).isDirectory, dir);

  assert.equal(await deleteStopped(stateDir), "deleted");
  // runc's view: no such container; its cgroups are gone in every hierarchy.
  assert.equal(await f.runtime.state("del"), undefined);
  assert.deepEqual(await f.runtime.list(), []);
  for (const dir of cgroups) {
    await assert.rejects(Deno.lstat(dir), Deno.errors.NotFound, `${dir} was removed`);
  }
  await f.runtime.delete("del"); // idempotent
});

Deno.test("OciRuntime.delete() of runc: a cgroup with a child left is finished by `runc delete`", async () => {
  await using f = await Fixture.open(RUNC, { runcInternals: true });
  const stateDir = join(f.dir, "runtime-root", "nested");
  const c = await f.create("nested", { args: ["true"] });
  await f.runtime.start("nested", { pid: c.pid, bundle: c.bundle });
  await f.waitExit("nested");
  const cgroups = Object.values(
    JSON.parse(await Deno.readTextFile(join(stateDir, "state.json"))).cgroup_paths,
  ) as string[];
  // A sub-cgroup (as a container with its own cgroup namespace may make): its parent's rmdir
  // fails after others succeeded, and runc removes the rest, the child first.
  const parent = cgroups.find((d) => d.includes("/pids/")) ?? cgroups[0]!;
  await Deno.mkdir(join(parent, "child"));
  try {
    assert.equal(await deleteStopped(stateDir), undefined);
    await f.runtime.delete("nested", { force: true });
    assert.equal(await f.runtime.state("nested"), undefined);
    for (const dir of cgroups) {
      await assert.rejects(Deno.lstat(dir), Deno.errors.NotFound, `${dir} was removed`);
    }
  } finally {
    await Deno.remove(join(parent, "child")).catch(() => {});
    await Deno.remove(parent).catch(() => {});
  }
});

Deno.test("conmon's daemon leads its own session and holds its sync pipe, a pipe, at the fd it was told", async () => {
  await using f = await Fixture.open();
  const c = await f.create("session", { args: ["sleep", "1000"] });
  const stat = await Deno.readTextFile(`/proc/${c.conmonPid}/stat`);
  // Fields after the command: state, ppid, pgrp, session.
  const [, , pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  assert.equal(session, c.conmonPid, "its own session: a signal to ocid's group misses it");
  assert.equal(pgrp, c.conmonPid);
  assert.notEqual(session, Number(Deno.readTextFileSync("/proc/self/stat").split(" ")[5]));
  const environ = (await Deno.readTextFile(`/proc/${c.conmonPid}/environ`)).split("\0");
  const fd = environ.find((e) => e.startsWith("_OCI_SYNCPIPE="))?.slice("_OCI_SYNCPIPE=".length);
  assert.match(fd ?? "", /^\d+$/, "_OCI_SYNCPIPE names an fd");
  assert.match(await Deno.readLink(`/proc/${c.conmonPid}/fd/${fd}`), /^pipe:\[\d+\]$/);
});

Deno.test("OciRuntime.kill() stops containers with SIGTERM and SIGKILL", async () => {
  await using f = await Fixture.open();
  const term = await f.create("term", {
    args: ["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"],
  });
  await f.create("hard", { args: ["sleep", "1000"] });
  await f.runtime.start("term");
  await f.runtime.start("hard");
  // Before its trap, sh (PID 1 of its namespace) would ignore the SIGTERM.
  await waitForSignalHandler(term.pid, 15);
  const listed = (await f.runtime.list()).map((s) => `${s.id}:${s.status}`).sort();
  assert.deepEqual(listed, ["hard:running", "term:running"]);

  await f.runtime.kill("term", "SIGTERM");
  assert.equal((await f.waitExit("term")).exitCode, 42);
  await f.runtime.kill("hard", "SIGKILL");
  assert.equal((await f.waitExit("hard")).exitCode, 137);
  await f.runtime.kill("hard", "SIGKILL"); // a stopped container is fine
  await assert.rejects(f.runtime.kill("nope", "SIGKILL"), { name: "NotFoundError" });
});

Deno.test("OciRuntime.execSync() returns output and exit code, times out and caps output", async (t) => {
  await using f = await Fixture.open();
  await f.create("exec", { args: ["sleep", "1000"] });
  await f.runtime.start("exec");
  const root = join(f.dir, "runtime-root");

  await t.step("echo", async () => {
    const r = await f.runtime.execSync("exec", {
      args: ["sh", "-c", "echo out; echo err >&2; exit 7"],
      timeoutMs: WAIT_MS,
    });
    assert.equal(decode(r.stdout), "out\n");
    assert.equal(decode(r.stderr), "err\n");
    assert.equal(r.exitCode, 7);
    assert.equal(r.timedOut, false);
    assert.equal(r.truncated, false);
  });

  await t.step("timeout kills the process", async () => {
    const r = await f.runtime.execSync("exec", { args: ["sleep", "1000"], timeoutMs: 300 });
    assert.equal(r.timedOut, true);
    assert.equal(r.exitCode, 137);
    assert.equal((await containerPids(root, "exec")).length, 1, "only init is left");
  });

  await t.step("a flood is cut at the cap and killed", async () => {
    const cap = 1024 * 1024;
    const r = await f.runtime.execSync("exec", {
      args: ["yes"],
      timeoutMs: WAIT_MS,
      maxOutputBytes: cap,
    });
    assert.equal(r.truncated, true);
    assert.equal(r.timedOut, false);
    assert.equal(r.stdout.length + r.stderr.length, cap);
    assert.ok(decode(r.stdout.subarray(0, 4)) === "y\ny\n");
    assert.equal((await containerPids(root, "exec")).length, 1, "yes is gone");
  });

  await t.step("no process or pid file is left", async () => {
    await f.execFiles.settled();
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(f.dir, "exec"))), []);
  });
});

Deno.test("OciRuntime.reopenLog() makes conmon write to a new log file", async () => {
  await using f = await Fixture.open();
  const c = await f.create("logs", {
    args: ["sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.02; done"],
  });
  await f.runtime.start("logs");
  await until("first log line", async () => {
    const t = await Deno.readTextFile(c.logPath).catch(() => "");
    return t.includes("line1") ? true : undefined;
  });
  await Deno.rename(c.logPath, `${c.logPath}.1`);
  await f.runtime.reopenLog("logs", { logPath: c.logPath });
  const fresh = await until("a line in the new log", async () => {
    const t = await Deno.readTextFile(c.logPath).catch(() => "");
    return /stdout F line\d+\n/.test(t) ? t : undefined;
  });
  assert.match(fresh, /stdout F line\d+/);
  assert.match(await Deno.readTextFile(`${c.logPath}.1`), /stdout F line0\n/);
});

Deno.test("OciRuntime.create() fails with runc's message and leaves nothing behind", async () => {
  await using f = await Fixture.open();
  const persistDir = join(f.dir, "persist", "bad");
  const err = await f.create("bad", { args: ["/nonexistent-binary"] }).then(
    () => undefined,
    (e: unknown) => e,
  );
  const conmonPid = Number(
    await Deno.readTextFile(join(persistDir, "conmon-pidfile")).catch(() => "0"),
  );
  f.trackConmon(conmonPid);
  assert.ok(err instanceof OciRuntimeError, `expected OciRuntimeError, got ${err}`);
  assert.match(err.message, /runc create "bad" failed: .*nonexistent-binary/);
  assert.equal(await f.runtime.state("bad"), undefined);
  assert.deepEqual(await f.runtime.list(), []);
  assert.ok(conmonPid > 0, "conmon wrote its pidfile");
  await until(
    "conmon to be gone",
    async () => (await f.runtime.conmonAlive(conmonPid)) ? undefined : true,
  );
});

Deno.test("OciRuntime on crun: runs a container, or on a hybrid cgroup layout fails with crun's reason", async () => {
  const hybrid =
    await Deno.stat("/sys/fs/cgroup/unified/cgroup.controllers").then(() => true, () => false) &&
    await Deno.stat("/sys/fs/cgroup/memory").then(() => true, () => false);
  await using f = await Fixture.open(CRUN);
  if (hybrid) {
    await assert.rejects(f.create("crun1", { args: ["true"] }), (e: Error) => {
      assert.match(e.message, /crun create "crun1" failed: .*hybrid/);
      return true;
    });
    assert.equal(await f.runtime.state("crun1"), undefined);
    return;
  }
  await f.create("crun1", { args: ["sh", "-c", "exit 5"] });
  await f.runtime.start("crun1");
  assert.equal((await f.waitExit("crun1")).exitCode, 5);
  await f.runtime.delete("crun1");
  assert.equal(await f.runtime.state("crun1"), undefined);
});
