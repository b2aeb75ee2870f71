import assert from "node:assert/strict";
import { type HeapSnapshot, scriptOrigin, summarizeHeap } from "./heap.ts";

/** A snapshot of four nodes: a Script whose `source` edge points at a string, an object, a string. */
function snapshot(): HeapSnapshot {
  const strings = [
    "system / Script / file:///repo/src/a.ts", // 0
    "source", // 1
    "name", // 2
    "const a = 1;", // 3
    "Foo", // 4
    "other text", // 5
    "file:///repo/src/a.ts", // 6
  ];
  // node fields: type, name, id, self_size, edge_count
  const nodes = [
    0,
    0,
    1,
    40,
    2, // code: the Script, with two edges
    1,
    3,
    2,
    300,
    0, // string: its source
    2,
    4,
    3,
    64,
    0, // object Foo
    1,
    6,
    4,
    100,
    0, // string: the script's name
  ];
  // edge fields: type, name_or_index, to_node (the index of the node's first field)
  const edges = [
    0,
    2,
    15, // internal "name" -> node 3
    0,
    1,
    5, // internal "source" -> node 1
  ];
  return {
    snapshot: {
      meta: {
        node_fields: ["type", "name", "id", "self_size", "edge_count"],
        node_types: [["code", "string", "object"]],
        edge_fields: ["type", "name_or_index", "to_node"],
        edge_types: [["internal", "element"]],
      },
    },
    nodes,
    edges,
    strings,
  };
}

Deno.test("summarizeHeap() sums by type and group and finds each script's source by its edge", () => {
  const s = summarizeHeap(snapshot());
  assert.equal(s.total, 504);
  assert.deepEqual(s.byType, [["string", 400], ["object", 64], ["code", 40]]);
  // Strings are one group (their names are their contents); objects group by constructor.
  assert.deepEqual(s.groups.find((g) => g.type === "string"), {
    type: "string",
    name: "",
    bytes: 400,
    count: 2,
  });
  assert.equal(s.groups.find((g) => g.type === "object")?.name, "Foo");
  assert.deepEqual(s.scripts, [{ url: "file:///repo/src/a.ts", bytes: 300 }]);
});

Deno.test("scriptOrigin() tells ocid's modules from npm packages and Deno's own", () => {
  assert.equal(scriptOrigin("file:///repo/src/a.ts", "/repo"), "ocid");
  assert.equal(
    scriptOrigin(
      "file:///root/.cache/deno/npm/registry.npmjs.org/@grpc/grpc-js/1.14.7/build/src/server.js",
      "/repo",
    ),
    "npm",
  );
  assert.equal(scriptOrigin("file:///repo/node_modules/x/index.js", "/repo"), "npm");
  assert.equal(scriptOrigin("ext:deno_web/06_streams.js", "/repo"), "deno");
  assert.equal(scriptOrigin("node:http2", "/repo"), "deno");
  assert.equal(scriptOrigin("file:///elsewhere/a.js", "/repo"), "other");
});
