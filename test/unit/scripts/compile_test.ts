/**
 * `deno task compile` embeds what the binary loads at run time: every worker module started by
 * URL under src/, and proto/. No root, no denort needed.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compileArgs, WORKER_MODULES } from "../../../scripts/compile.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* tsFiles(p);
    else if (e.name.endsWith(".ts")) yield p;
  }
}

Deno.test("compileArgs() includes every worker module src/ starts by URL, and proto/", async () => {
  const found: string[] = [];
  for await (const file of tsFiles(join(ROOT, "src"))) {
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(/new Worker\(\s*new URL\(\s*["']([^"']+)["']/g)) {
      found.push(relative(ROOT, resolve(dirname(file), m[1]!)));
    }
  }
  assert.ok(found.length >= 1, `the pattern finds the port-forward worker: ${found}`);
  assert.deepEqual([...new Set(found)].sort(), [...WORKER_MODULES].sort());
  const args = compileArgs({ output: "/tmp/x" });
  for (const m of WORKER_MODULES) {
    const i = args.indexOf(join(ROOT, m));
    assert.ok(i > 0 && args[i - 1] === "--include", `${m} is included`);
  }
  assert.ok(args.includes(join(ROOT, "proto")), "proto/ is included");
  assert.equal(args.at(-1), join(ROOT, "src", "main.ts"));
});
