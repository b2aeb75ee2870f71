import assert from "node:assert/strict";
import { join } from "node:path";
import { type ExitStatus, ExitWatcher, readExitFile, readOom } from "../../../src/oci/exits.ts";

/** Collects onExit calls and lets a test wait for the n-th one. */
function collector() {
  const seen: [string, ExitStatus][] = [];
  let wake: (() => void) | undefined;
  return {
    seen,
    onExit(id: string, s: ExitStatus) {
      seen.push([id, s]);
      wake?.();
    },
    async waitFor(n: number) {
      while (seen.length < n) await new Promise<void>((r) => (wake = r));
    },
  };
}

Deno.test("ExitWatcher reports files present at start and new ones, once each", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exits-" });
  const c = collector();
  const watcher = new ExitWatcher(dir, { onExit: c.onExit });
  try {
    await Deno.writeTextFile(join(dir, "old"), "0");
    await watcher.start();
    await c.waitFor(1);
    // conmon's way: a temp file renamed over the name.
    await Deno.writeTextFile(join(dir, "new.Ab12Cd"), "137");
    await Deno.rename(join(dir, "new.Ab12Cd"), join(dir, "new"));
    await c.waitFor(2);
    await Deno.writeTextFile(join(dir, "new"), "1"); // modified again: not reported twice
    await Deno.writeTextFile(join(dir, "third"), "3\n");
    await c.waitFor(3);
    const byId = Object.fromEntries(c.seen.map(([id, s]) => [id, s.exitCode]));
    assert.deepEqual(byId, { old: 0, new: 137, third: 3 });
    assert.equal(c.seen.length, 3);
    const mtime = (await Deno.stat(join(dir, "old"))).mtime;
    assert.equal(c.seen.find(([id]) => id === "old")?.[1].finishedAt.getTime(), mtime?.getTime());
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ExitWatcher.forget() lets a re-created container's exit be reported again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exits-" });
  const c = collector();
  const watcher = new ExitWatcher(dir, { onExit: c.onExit });
  try {
    await watcher.start();
    await Deno.writeTextFile(join(dir, "a"), "1");
    await c.waitFor(1);
    await Deno.remove(join(dir, "a"));
    watcher.forget("a");
    await Deno.writeTextFile(join(dir, "a"), "2");
    await c.waitFor(2);
    assert.deepEqual(c.seen.map(([id, s]) => [id, s.exitCode]), [["a", 1], ["a", 2]]);
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ExitWatcher.read() reads one exit file; undefined when missing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exits-" });
  const watcher = new ExitWatcher(dir, { onExit: () => {} });
  try {
    await Deno.writeTextFile(join(dir, "x"), "143");
    assert.equal((await watcher.read("x"))?.exitCode, 143);
    assert.equal(await watcher.read("y"), undefined);
  } finally {
    await watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readExitFile() retries an empty file until it is complete", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-exits-" });
  try {
    const path = join(dir, "x");
    await Deno.writeTextFile(path, "");
    let reads = 0;
    const pending = readExitFile(path, { retries: 1000, retryDelayMs: 1 }).finally(() => reads++);
    await Deno.writeTextFile(path, "-1");
    assert.equal((await pending)?.exitCode, -1);
    assert.equal(await readExitFile(path + "-gone"), undefined);
    await Deno.writeTextFile(path, "garbage");
    assert.equal(await readExitFile(path, { retries: 2, retryDelayMs: 1 }), undefined);
    assert.equal(reads, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readOom() tells whether conmon left an oom marker", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-oom-" });
  try {
    assert.equal(await readOom(dir), false);
    await Deno.writeTextFile(join(dir, "oom"), "");
    assert.equal(await readOom(dir), true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
