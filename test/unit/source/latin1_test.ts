/**
 * The files under src/ hold no character above U+00FF, comments included. V8 keeps the source
 * of every loaded module for the daemon's whole life (transpiled, with an inline source map
 * that embeds the TypeScript again), and one such character makes it store the whole source at
 * two bytes a character. Measured with `bench/heap.ts` after the benchmark's warm-up: the 25
 * loaded modules that had one (arrows, ellipses, box-drawing in diagrams) kept 0.91 MiB of
 * source; in Latin-1 the same text takes half. A string that must show such a character at run
 * time spells it as an escape (`\u2026`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../../src/", import.meta.url));

/** `path:line: text` for every line of a .ts file under `dir` with a character above U+00FF. */
async function wideLines(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const path = join(d, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        const lines = (await Deno.readTextFile(path)).split("\n");
        lines.forEach((line, i) => {
          if ([...line].some((c) => c.codePointAt(0)! > 0xff)) {
            found.push(`${relative(dir, path)}:${i + 1}: ${line.trim()}`);
          }
        });
      }
    }
  };
  await walk(dir);
  return found;
}

Deno.test("src/ holds no character above U+00FF (V8 would keep its modules at two bytes a character)", async () => {
  assert.deepEqual(await wideLines(SRC), []);
});
