/**
 * What the daemon loads at start: the modules `src/main.ts` imports statically (type imports
 * and `import()` left out). Code an idle node does not need is imported on first use, and must
 * stay out of this set: the streaming sessions (SPDY, WebSocket, exec, attach, port-forward),
 * the image pull path (registry client, decompression, tar reader), the doctor and Prometheus.
 * The graph as a whole still holds them, so `deno compile` and `deno cache` embed them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = new URL("src/main.ts", `file://${ROOT}`).href;

/** Modules under src/ loaded on first use, never at start. */
const LAZY_MODULES = [
  "src/doctor/mod.ts",
  "src/image/pull.ts",
  "src/image/registry_client.ts",
  "src/image/decompress.ts",
  "src/image/layer_apply.ts",
  "src/metrics/prometheus.ts",
  "src/stream/session.ts",
  "src/stream/spdy_connection.ts",
  "src/stream/ws_session.ts",
  "src/stream/exec.ts",
  "src/stream/attach.ts",
  "src/stream/port_forward.ts",
  "src/stream/pty_exec.ts",
];

/** npm packages loaded on first use, never at start. */
const LAZY_PACKAGES = ["prom-client", "tar-stream", "ws"];

interface InfoDependency {
  code?: { specifier: string };
  isDynamic?: boolean;
}

interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

/** `deno info --json src/main.ts`: every module of the graph, dynamic imports included. */
async function moduleGraph(): Promise<Map<string, InfoModule>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "src/main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
  return new Map(info.modules.map((m) => [m.specifier, m]));
}

/**
 * The modules reachable from `root` and the npm packages they import.
 *
 * @param graph The module graph.
 * @param root Where to start.
 * @param dynamic Whether to follow `import()` too.
 */
function reachable(
  graph: Map<string, InfoModule>,
  root: string,
  dynamic: boolean,
): { modules: Set<string>; packages: Set<string> } {
  const modules = new Set<string>();
  const packages = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const specifier = stack.pop()!;
    if (modules.has(specifier)) continue;
    modules.add(specifier);
    for (const dep of graph.get(specifier)?.dependencies ?? []) {
      if (!dep.code || (dep.isDynamic && !dynamic)) continue;
      const target = dep.code.specifier;
      const npm = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)/.exec(target);
      if (npm) packages.add(npm[1]!);
      else if (target.startsWith("file:")) stack.push(target);
    }
  }
  return { modules, packages };
}

const relative = (specifier: string) => specifier.slice(`file://${ROOT}`.length);

Deno.test("the daemon does not load at start what it imports on first use", async (t) => {
  const graph = await moduleGraph();
  const atStart = reachable(graph, MAIN, false);
  const all = reachable(graph, MAIN, true);
  await t.step("the start path holds none of them", () => {
    const loaded = [...atStart.modules].map(relative).filter((m) => LAZY_MODULES.includes(m));
    assert.deepEqual(loaded, []);
    assert.deepEqual(LAZY_PACKAGES.filter((p) => atStart.packages.has(p)), []);
  });
  await t.step("the graph holds every one of them (deno compile embeds them)", () => {
    const modules = new Set([...all.modules].map(relative));
    assert.deepEqual(LAZY_MODULES.filter((m) => !modules.has(m)), []);
    assert.deepEqual(LAZY_PACKAGES.filter((p) => !all.packages.has(p)), []);
  });
});
