import assert from "node:assert/strict";
import { join } from "node:path";
import { killExecAndReap, killExecProcess, readPidFile } from "../../../src/oci/exec_kill.ts";
import { runtimeExecArgs } from "../../../src/oci/exec_args.ts";

/** Whether a process of ours still runs (not reaped and not a zombie). */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

Deno.test("runtimeExecArgs() gives the runtime's exec command line", () => {
  assert.deepEqual(
    runtimeExecArgs("/run/runc", { id: "abc", processFile: "/t/p.json", pidFile: "/t/pid" }),
    ["--root", "/run/runc", "exec", "--process", "/t/p.json", "--pid-file", "/t/pid", "abc"],
  );
});

Deno.test("readPidFile() reads a pid, or 0 for a missing or bad file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-kill-" });
  try {
    const file = join(dir, "pid");
    assert.equal(await readPidFile(file), 0);
    await Deno.writeTextFile(file, "1234\n");
    assert.equal(await readPidFile(file), 1234);
    await Deno.writeTextFile(file, "junk");
    assert.equal(await readPidFile(file), 0);
    await Deno.writeTextFile(file, "-5");
    assert.equal(await readPidFile(file), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("killExecProcess() waits for the pid file, then kills the process group", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-kill-" });
  const pidFile = join(dir, "pid");
  const bgFile = join(dir, "bg");
  // A group leader with a background child, like an exec'd shell: the pid file comes late.
  const leader = new Deno.Command("setsid", {
    args: ["sh", "-c", `sleep 100 & echo $! > "${bgFile}"; echo $$ > "${pidFile}.tmp"; wait`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const killed = killExecProcess(pidFile, { waitMs: 60_000 });
    while (!(await readPidFile(`${pidFile}.tmp`)) || !(await readPidFile(bgFile))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const bg = await readPidFile(bgFile);
    await Deno.rename(`${pidFile}.tmp`, pidFile);
    await killed;
    const status = await leader.status;
    assert.equal(status.signal, "SIGKILL");
    for (let i = 0; await alive(bg); i++) {
      assert.ok(i < 500, `the background process ${bg} in the group was not killed`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    try {
      leader.kill("SIGKILL");
    } catch { /* gone */ }
    await leader.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("killExecProcess() kills the group of a process that already exited (a shell's `cmd &` holding the output)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-kill-" });
  const pidFile = join(dir, "pid");
  const bgFile = join(dir, "bg");
  // The exec'd shell leads its group, starts a background child and exits at once.
  const leader = new Deno.Command("setsid", {
    args: ["sh", "-c", `sleep 100 & echo $! > "${bgFile}"; echo $$ > "${pidFile}"`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let bg = 0;
  try {
    await leader.status;
    bg = await readPidFile(bgFile);
    const shell = await readPidFile(pidFile);
    assert.ok(bg > 0 && shell > 0 && await alive(bg), "the background child runs");
    assert.equal(await killExecProcess(pidFile), -shell, "its group was signalled");
    for (let i = 0; await alive(bg); i++) {
      assert.ok(i < 500, `the background process ${bg} in the group was not killed`);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    if (bg > 0) {
      try {
        Deno.kill(bg, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("killExecProcess() stops waiting once the runtime exited", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-kill-" });
  try {
    let looks = 0;
    await killExecProcess(join(dir, "pid"), {
      waitMs: 600_000,
      runtimeExited: () => ++looks > 2,
    });
    assert.equal(looks, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("killExecAndReap() lets the runtime reap the process before it answers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-kill-" });
  const pidFile = join(dir, "pid");
  // Like `runc exec`: the parent waits for the process it started, which leads its own group.
  const runtime = new Deno.Command("sh", {
    args: ["-c", `setsid sh -c 'echo $$ > "${pidFile}"; exec sleep 100'; echo reaped`],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    while (!(await readPidFile(pidFile))) await new Promise((r) => setTimeout(r, 10));
    const pid = await readPidFile(pidFile);
    const result = await killExecAndReap(pidFile, runtime, { reapGraceMs: 10_000 });
    assert.deepEqual(result, { target: -pid, left: [] });
    const out = await runtime.output();
    assert.equal(out.code, 0, "the runtime exited by itself");
    assert.equal(new TextDecoder().decode(out.stdout), "reaped\n");
    await assert.rejects(Deno.stat(`/proc/${pid}`), Deno.errors.NotFound, "no zombie left");
  } finally {
    try {
      runtime.kill("SIGKILL");
    } catch { /* gone */ }
    await runtime.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("killExecAndReap() kills a runtime that does not exit after its child died", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-kill-" });
  const pidFile = join(dir, "pid");
  const runtime = new Deno.Command("sh", {
    args: ["-c", `setsid sh -c 'echo $$ > "${pidFile}"; exec sleep 100' & exec sleep 200`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    while (!(await readPidFile(pidFile))) await new Promise((r) => setTimeout(r, 10));
    const result = await killExecAndReap(pidFile, runtime, { reapGraceMs: 100 });
    assert.equal(result.target, -(await readPidFile(pidFile)));
    assert.equal((await runtime.status).signal, "SIGKILL");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
