/**
 * The modules under src/ import each other without cycles, type imports included: a cycle ties
 * files together so that neither can change or be read alone (STYLE.md: "avoid import cycles
 * between handler files").
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../../src/", import.meta.url));
const IMPORT = /^\s*(?:import|export)\s+(?:type\s+)?(?:[^;]*?\sfrom\s+)?"(\.{1,2}\/[^"]+)"/gms;

/** Relative imports of every .ts file under `dir`, by path relative to `dir`. */
async function importGraph(dir: string): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const path = join(d, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        const targets = [...text.matchAll(IMPORT)].map((m) =>
          relative(dir, normalize(join(dirname(path), m[1]!)))
        );
        graph.set(relative(dir, path), targets);
      }
    }
  };
  await walk(dir);
  return graph;
}

/** The cycles of a graph, each as the files on it (Tarjan's strongly connected components). */
export function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

Deno.test("cycles() finds a cycle through type imports and none in a tree", () => {
  assert.deepEqual(
    cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])),
    [["a", "b", "c"]],
  );
  assert.deepEqual(cycles(new Map([["a", ["b"]], ["b", []]])), []);
});

Deno.test("no module under src/ imports itself through others", async () => {
  const graph = await importGraph(SRC);
  assert.ok(graph.size > 50, "the graph holds the source files");
  assert.deepEqual(cycles(graph), []);
});
