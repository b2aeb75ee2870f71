import assert from "node:assert/strict";
import { parseUlimit, parseUlimits } from "../../../src/spec/ulimits.ts";

Deno.test("parseUlimit() reads name=soft[:hard] as CRI-O's default_ulimits does", () => {
  assert.deepEqual(parseUlimit("nofile=1024:1048576"), {
    type: "RLIMIT_NOFILE",
    soft: 1024,
    hard: 1048576,
  });
  assert.deepEqual(parseUlimit(" nproc=4096 "), { type: "RLIMIT_NPROC", soft: 4096, hard: 4096 });
  assert.deepEqual(parseUlimit("memlock=0:0"), { type: "RLIMIT_MEMLOCK", soft: 0, hard: 0 });
});

Deno.test("parseUlimit() refuses what runc would not set as asked", () => {
  for (
    const bad of [
      "nofile=2048:1024", // soft above hard
      "files=10", // no such limit
      "NOFILE=10", // lower case, as CRI-O
      "nofile=-1", // unlimited is not a number runc reads back exactly from JSON
      "nofile=1e6",
      "nofile=18446744073709551615",
      "nofile=1:2:3",
      "nofile=",
      "nofile",
      "",
    ]
  ) {
    assert.equal(parseUlimit(bad), undefined, bad);
  }
});

Deno.test("parseUlimits() keeps the order and refuses a limit named twice", () => {
  assert.deepEqual(parseUlimits(["nproc=10", "core=0"])?.map((r) => r.type), [
    "RLIMIT_NPROC",
    "RLIMIT_CORE",
  ]);
  assert.deepEqual(parseUlimits([]), []);
  assert.equal(parseUlimits(["nofile=10", "nofile=20:30"]), undefined);
  assert.equal(parseUlimits(["nofile=10", "bogus=1"]), undefined);
});
