/**
 * What the idle daemon's V8 heap holds. Starts ocid as the benchmark does (`./peers/ocid.ts`),
 * with the inspector on loopback, walks the benchmark's warm-up (pull pause and busybox, one pod
 * lifecycle with an ExecSync) unless `--start-only`, waits a second, collects garbage and takes a
 * heap snapshot. Prints the heap by kind of node (strings, code, objects, ...), the biggest
 * groups of nodes by kind and name, and the source text V8 keeps for every loaded script, by
 * origin: ocid's `src/`, npm packages, Deno's own.
 *
 * A script's source is its transpiled JavaScript followed by an inline source map that embeds
 * the original TypeScript again (`deno run` adds it; deno.json cannot turn it off), so a module
 * costs about three times its file. A source with any character above U+00FF is stored at two
 * bytes a character, map included: the report says how much of ocid's source that is.
 *
 * ```sh
 * flock /tmp/ocid-bench.lock deno run -A bench/heap.ts [--start-only] [--top N] [--out FILE]
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "./_proc.ts";
import { startRegistry } from "./_registry.ts";
import { ocidTarget, startOcid } from "./peers/ocid.ts";
import { Cdp } from "./profile.ts";

/** The parts of a `.heapsnapshot` file this report reads. */
export interface HeapSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** The source V8 keeps for one script. */
export interface ScriptSource {
  /** The script's URL (`file:///...`, `ext:...`, `node:...`). */
  url: string;
  /** Bytes of its source string on the heap. */
  bytes: number;
}

/** What {@linkcode summarizeHeap} finds. */
export interface HeapSummary {
  /** Bytes of all nodes. */
  total: number;
  /** Bytes by node type (`string`, `code`, `object`, ...), largest first. */
  byType: Array<[string, number]>;
  /** Bytes and node counts by type and name, largest first. */
  groups: Array<{ type: string; name: string; bytes: number; count: number }>;
  /** Every script's source, largest first. */
  scripts: ScriptSource[];
}

const SCRIPT_PREFIX = "system / Script / ";

/** Node types whose names are worth grouping by (a string's name is its content). */
const NAMED_TYPES = new Set(["object", "closure", "native", "hidden", "code", "array"]);

/**
 * Sums a heap snapshot's nodes by type, by (type, name), and lists each script's source size
 * (the node its `source` edge points at).
 *
 * @param snap A parsed `.heapsnapshot`.
 * @returns The summary.
 */
export function summarizeHeap(snap: HeapSnapshot): HeapSummary {
  const { meta } = snap.snapshot;
  const nodeWidth = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const typeAt = meta.node_fields.indexOf("type");
  const nameAt = meta.node_fields.indexOf("name");
  const sizeAt = meta.node_fields.indexOf("self_size");
  const edgeCountAt = meta.node_fields.indexOf("edge_count");
  const edgeTypeAt = meta.edge_fields.indexOf("type");
  const edgeNameAt = meta.edge_fields.indexOf("name_or_index");
  const edgeToAt = meta.edge_fields.indexOf("to_node");
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;

  let total = 0;
  const byType = new Map<string, number>();
  const groups = new Map<string, { type: string; name: string; bytes: number; count: number }>();
  const scripts: ScriptSource[] = [];
  let edge = 0;
  for (let n = 0; n < nodes.length; n += nodeWidth) {
    const type = nodeTypes[nodes[n + typeAt]!]!;
    const name = strings[nodes[n + nameAt]!]!;
    const size = nodes[n + sizeAt]!;
    const edgeEnd = edge + nodes[n + edgeCountAt]! * edgeWidth;
    total += size;
    byType.set(type, (byType.get(type) ?? 0) + size);
    const groupName = NAMED_TYPES.has(type) ? name.slice(0, 80) : "";
    const key = `${type}\u0000${groupName}`;
    const group = groups.get(key) ?? { type, name: groupName, bytes: 0, count: 0 };
    group.bytes += size;
    group.count++;
    groups.set(key, group);
    if (name.startsWith(SCRIPT_PREFIX)) {
      for (let e = edge; e < edgeEnd; e += edgeWidth) {
        const edgeType = edgeTypes[edges[e + edgeTypeAt]!];
        if (edgeType === "element" || edgeType === "hidden") continue;
        if (strings[edges[e + edgeNameAt]!] !== "source") continue;
        const url = name.slice(SCRIPT_PREFIX.length);
        scripts.push({ url, bytes: nodes[edges[e + edgeToAt]! + sizeAt]! });
        break;
      }
    }
    edge = edgeEnd;
  }
  return {
    total,
    byType: [...byType].sort((a, b) => b[1] - a[1]),
    groups: [...groups.values()].sort((a, b) => b.bytes - a.bytes),
    scripts: scripts.sort((a, b) => b.bytes - a.bytes),
  };
}

/** Where a script comes from: `ocid`, `npm`, `deno` or `other`. */
export function scriptOrigin(url: string, repo: string): "ocid" | "npm" | "deno" | "other" {
  if (url.includes("/node_modules/") || url.includes("/npm/registry.npmjs.org/")) return "npm";
  if (url.startsWith(`file://${repo}/`)) return "ocid";
  if (/^(ext|node):/.test(url)) return "deno";
  return "other";
}

/** Whether a file holds a character above U+00FF (its V8 source is then two-byte). */
function hasWideCharacter(path: string): boolean {
  try {
    for (const ch of Deno.readTextFileSync(path)) if (ch.codePointAt(0)! > 0xff) return true;
  } catch { /* not a readable file */ }
  return false;
}

const mib = (n: number) => (n / 1024 / 1024).toFixed(2).padStart(7);

/** Prints the report of one snapshot. */
function report(summary: HeapSummary, repo: string, top: number): void {
  console.log(`heap ${mib(summary.total)} MiB (self sizes, after a full collection)`);
  for (const [type, bytes] of summary.byType) {
    if (bytes >= 10_000) console.log(`  ${type.padEnd(22)} ${mib(bytes)} MiB`);
  }
  console.log(`largest groups (type, name):`);
  for (const g of summary.groups.slice(0, top)) {
    console.log(`  ${mib(g.bytes)} MiB  ${String(g.count).padStart(6)} x ${g.type} ${g.name}`);
  }
  const origins = new Map<string, { bytes: number; count: number }>();
  let wide = 0;
  let wideFiles = 0;
  for (const s of summary.scripts) {
    const origin = scriptOrigin(s.url, repo);
    const o = origins.get(origin) ?? { bytes: 0, count: 0 };
    o.bytes += s.bytes;
    o.count++;
    origins.set(origin, o);
    if (origin === "ocid" && hasWideCharacter(new URL(s.url).pathname)) {
      wide += s.bytes;
      wideFiles++;
    }
  }
  console.log(`script sources kept by V8:`);
  for (const [origin, o] of [...origins].sort((a, b) => b[1].bytes - a[1].bytes)) {
    console.log(`  ${origin.padEnd(6)} ${mib(o.bytes)} MiB in ${o.count} scripts`);
  }
  console.log(
    `  of ocid's: ${mib(wide).trim()} MiB in ${wideFiles} files with a character above U+00FF ` +
      `(two bytes a character)`,
  );
  console.log(`largest sources:`);
  for (const s of summary.scripts.slice(0, top)) {
    console.log(`  ${(s.bytes / 1024).toFixed(0).padStart(6)} KiB  ${s.url}`);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "start-only": { type: "boolean" },
      top: { type: "string", default: "15" },
      out: { type: "string" },
    },
  });
  const repo = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const scratch = await Deno.makeTempDir({ prefix: "ocid-heap-" });
  const registry = await startRegistry(await Deno.makeTempDir({ prefix: "ocid-heap-reg-" }));
  const inspect = `127.0.0.1:${freePort()}`;
  const peer = await startOcid({ denoFlags: [`--inspect=${inspect}`] });
  try {
    const t = await ocidTarget(peer, {
      busybox: registry.images.busybox,
      logDir: join(scratch, "logs"),
    });
    if (!values["start-only"]) {
      await t.images!.pull(registry.images.pause);
      await t.images!.pull(registry.images.busybox);
      const pod = await t.runPodSandbox("heap");
      const c = await t.createContainer(pod, "c");
      await t.startContainer(c);
      await t.execSync(c, ["true"]);
      await t.stopContainer(c);
      await t.stopPodSandbox(pod);
      await t.removePodSandbox(pod);
      await t.removeAllPods();
    }
    await t.close();
    await new Promise((r) => setTimeout(r, 1_000));
    const cdp = await Cdp.connect(inspect);
    const chunks: string[] = [];
    cdp.on("HeapProfiler.addHeapSnapshotChunk", (p) => chunks.push((p as { chunk: string }).chunk));
    await cdp.send("HeapProfiler.enable");
    await cdp.send("HeapProfiler.collectGarbage");
    await cdp.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    cdp.close();
    const text = chunks.join("");
    if (values.out) await Deno.writeTextFile(values.out, text);
    report(summarizeHeap(JSON.parse(text) as HeapSnapshot), repo, Number(values.top));
  } finally {
    await peer.close();
    await registry.close();
    await Deno.remove(scratch, { recursive: true });
  }
}
