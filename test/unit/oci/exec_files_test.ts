import assert from "node:assert/strict";
import { join } from "node:path";
import { ExecFiles } from "../../../src/oci/exec_files.ts";
import type { Logger } from "../../../src/log.ts";

async function tempDir() {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exec-files-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

const names = async (dir: string) =>
  (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();

Deno.test("ExecFiles.create() writes the spec in a private dir and names a pid file not there yet", async () => {
  await using t = await tempDir();
  const dir = join(t.dir, "exec");
  const files = new ExecFiles(dir);
  const a = await files.create("ctr1", { args: ["echo", "a"] });
  const b = await files.create("ctr1", { args: ["echo", "b"] });
  assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
  assert.equal((await Deno.stat(a.processFile)).mode! & 0o777, 0o600);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(a.processFile)), { args: ["echo", "a"] });
  assert.deepEqual(JSON.parse(await Deno.readTextFile(b.processFile)), { args: ["echo", "b"] });
  assert.notEqual(a.pidFile, b.pidFile);
  assert.match(a.processFile, /\/exec\/ctr1\.[0-9a-f-]{36}\.json$/);
  assert.equal(a.pidFile, a.processFile.replace(/\.json$/, ".pid"));
  await assert.rejects(Deno.stat(a.pidFile), Deno.errors.NotFound);
  files.release(a);
  files.release(b);
  await files.settled();
});

Deno.test("ExecFiles.release() removes the spec and the pid file; until then they are in use", async () => {
  await using t = await tempDir();
  const files = new ExecFiles(t.dir);
  const f = await files.create("ctr1", {});
  await Deno.writeTextFile(f.pidFile, "42");
  const base = (p: string) => p.slice(t.dir.length + 1);
  assert.ok(files.inUse(base(f.processFile)));
  assert.ok(files.inUse(base(f.pidFile)));
  assert.ok(files.inUse(`.${base(f.pidFile)}`), "runc's temp pid file");
  assert.ok(!files.inUse("ctr1.other.json"));
  files.release(f);
  await files.settled();
  assert.deepEqual(await names(t.dir), []);
  assert.ok(!files.inUse(base(f.processFile)), "the sweep may take what a removal left");
});

Deno.test("ExecFiles.release() logs a failed removal and leaves the file to the sweep", async () => {
  await using t = await tempDir();
  const warnings: string[] = [];
  const logger: Logger = {
    debug() {},
    info() {},
    warn: (msg) => void warnings.push(msg),
    error() {},
  };
  const files = new ExecFiles(t.dir, { logger });
  const f = await files.create("ctr1", {});
  // A dir where the pid file should be cannot be removed with a plain remove.
  await Deno.mkdir(f.pidFile);
  await Deno.writeTextFile(join(f.pidFile, "x"), "");
  files.release(f);
  await files.settled();
  assert.deepEqual(warnings, ["Cannot remove an exec file"]);
  assert.deepEqual(await names(t.dir), [f.pidFile.slice(t.dir.length + 1)]);
  assert.ok(!files.inUse(f.pidFile.slice(t.dir.length + 1)));
});

Deno.test("ExecFiles.create() makes the dir again when it was removed", async () => {
  await using t = await tempDir();
  const dir = join(t.dir, "exec");
  const files = new ExecFiles(dir);
  files.release(await files.create("ctr1", {}));
  await files.settled();
  await Deno.remove(dir, { recursive: true });
  const f = await files.create("ctr1", { args: ["true"] });
  assert.deepEqual(JSON.parse(await Deno.readTextFile(f.processFile)), { args: ["true"] });
  files.release(f);
  await files.settled();
});

Deno.test("ExecFiles.create() that cannot write throws and keeps nothing in use", async () => {
  await using t = await tempDir();
  await Deno.writeTextFile(join(t.dir, "file"), "");
  const files = new ExecFiles(join(t.dir, "file", "exec"));
  await assert.rejects(files.create("ctr1", {}));
  await files.settled();
  assert.ok(!files.inUse("ctr1.x.json"));
});
