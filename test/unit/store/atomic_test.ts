import assert from "node:assert/strict";
import { readJsonFile, writeFileAtomic } from "../../../src/store/mod.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-atomic-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("writeFileAtomic() writes and replaces a file, leaving no temporary file", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/rec.json`;
    await writeFileAtomic(path, '{"a":1}');
    assert.deepEqual(await readJsonFile(path), { a: 1 });
    await writeFileAtomic(path, new TextEncoder().encode('{"a":2}'));
    assert.deepEqual(await readJsonFile(path), { a: 2 });
    assert.deepEqual(await names(dir), ["rec.json"]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  });
});

Deno.test("writeFileAtomic() leaves the old file and no temporary file when the rename fails", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/target`;
    await Deno.mkdir(path);
    await Deno.writeTextFile(`${path}/keep`, "x"); // a non-empty directory cannot be replaced
    await assert.rejects(writeFileAtomic(path, "new"));
    assert.deepEqual(await names(dir), ["target"]);
    assert.equal(await Deno.readTextFile(`${path}/keep`), "x");
  });
});

Deno.test("writeFileAtomic() fails when the directory is missing", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(writeFileAtomic(`${dir}/no/file`, "x"), Deno.errors.NotFound);
  });
});

Deno.test("readJsonFile() names the file it cannot parse", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.json`, "{nope");
    await assert.rejects(
      readJsonFile(`${dir}/bad.json`),
      (err: unknown) =>
        err instanceof SyntaxError &&
        err.message.startsWith(`Cannot parse JSON in ${dir}/bad.json`),
    );
    await assert.rejects(readJsonFile(`${dir}/missing.json`), Deno.errors.NotFound);
  });
});

/** Counts fsyncs (`FsFile.sync`) made while `fn` runs. */
async function countSyncs(fn: () => Promise<void>): Promise<number> {
  const proto = Deno.FsFile.prototype;
  const sync = proto.sync;
  let n = 0;
  proto.sync = function (this: Deno.FsFile) {
    n++;
    return sync.call(this);
  };
  try {
    await fn();
  } finally {
    proto.sync = sync;
  }
  return n;
}

Deno.test("writeFileAtomic() fsyncs the file and its directory, the file, or nothing", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/config.json`;
    assert.equal(await countSyncs(() => writeFileAtomic(path, "{}")), 2);
    assert.equal(await countSyncs(() => writeFileAtomic(path, "[]", { sync: "all" })), 2);
    assert.equal(await countSyncs(() => writeFileAtomic(path, "1", { sync: "content" })), 1);
    assert.deepEqual(await readJsonFile(path), 1);
    assert.equal(await countSyncs(() => writeFileAtomic(path, '{"a":1}', { sync: "none" })), 0);
    assert.deepEqual(await readJsonFile(path), { a: 1 });
    assert.deepEqual(await names(dir), ["config.json"]);
  });
});
