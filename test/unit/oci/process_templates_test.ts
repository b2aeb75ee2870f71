import assert from "node:assert/strict";
import { join } from "node:path";
import { ProcessTemplates } from "../../../src/oci/process_templates.ts";
import { writeFileAtomic } from "../../../src/store/atomic.ts";

async function bundle() {
  const dir = await Deno.makeTempDir({ prefix: "ocid-process-templates-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("ProcessTemplates.get() parses config.json once while it is unchanged", async () => {
  await using b = await bundle();
  const path = join(b.dir, "config.json");
  await Deno.writeTextFile(path, JSON.stringify({ process: { cwd: "/a", env: ["A=1"] } }));
  const templates = new ProcessTemplates();
  const first = await templates.get(b.dir);
  assert.deepEqual(first, { cwd: "/a", env: ["A=1"] });
  assert.ok(Object.isFrozen(first));
  assert.equal(await templates.get(b.dir), first, "the same object: not read again");
});

Deno.test("ProcessTemplates.get() reads config.json again after a rewrite", async (t) => {
  await using b = await bundle();
  const path = join(b.dir, "config.json");
  await Deno.writeTextFile(path, JSON.stringify({ process: { cwd: "/a" } }));
  const templates = new ProcessTemplates();
  assert.deepEqual(await templates.get(b.dir), { cwd: "/a" });

  await t.step("an atomic rewrite (UpdateContainerResources)", async () => {
    await writeFileAtomic(path, JSON.stringify({ process: { cwd: "/b" } }));
    assert.deepEqual(await templates.get(b.dir), { cwd: "/b" });
  });
  await t.step("an edit in place of another size", async () => {
    await Deno.writeTextFile(path, JSON.stringify({ process: { cwd: "/ccc" } }));
    assert.deepEqual(await templates.get(b.dir), { cwd: "/ccc" });
  });
  await t.step("no process at all", async () => {
    await writeFileAtomic(path, "{}");
    assert.deepEqual(await templates.get(b.dir), {});
  });
  await t.step("a missing config.json throws", async () => {
    await Deno.remove(path);
    await assert.rejects(templates.get(b.dir), Deno.errors.NotFound);
  });
});

Deno.test("ProcessTemplates keeps at most maxEntries bundles, dropping the oldest", async () => {
  await using b = await bundle();
  const dirs = ["x", "y", "z"].map((n) => join(b.dir, n));
  for (const d of dirs) {
    await Deno.mkdir(d);
    await Deno.writeTextFile(join(d, "config.json"), JSON.stringify({ process: { cwd: d } }));
  }
  const templates = new ProcessTemplates(2);
  const x = await templates.get(dirs[0]!);
  await templates.get(dirs[1]!);
  await templates.get(dirs[2]!);
  assert.notEqual(await templates.get(dirs[0]!), x, "x was dropped and read again");
  assert.deepEqual(await templates.get(dirs[0]!), { cwd: dirs[0] });
});

Deno.test("ProcessTemplates drops a removed container's entry: forget(), or a read that finds the bundle gone", async () => {
  await using b = await bundle();
  const dirs = ["x", "y"].map((n) => join(b.dir, n));
  for (const d of dirs) {
    await Deno.mkdir(d);
    await Deno.writeTextFile(join(d, "config.json"), JSON.stringify({ process: { cwd: d } }));
  }
  const templates = new ProcessTemplates();
  await templates.get(dirs[0]!);
  await templates.get(dirs[1]!);
  assert.equal(templates.size, 2);
  templates.forget(dirs[0]!);
  assert.equal(templates.size, 1);
  templates.forget(join(b.dir, "never-seen"));
  assert.equal(templates.size, 1);
  await Deno.remove(dirs[1]!, { recursive: true });
  await assert.rejects(templates.get(dirs[1]!), Deno.errors.NotFound);
  assert.equal(templates.size, 0, "the gone bundle's entry is not kept");
});
