import assert from "node:assert/strict";
import { firstOffline, parseCpuList } from "../../../src/host/cpus.ts";

Deno.test("parseCpuList() reads the kernel's list form", () => {
  assert.deepEqual(parseCpuList("0-3,5"), [0, 1, 2, 3, 5]);
  assert.deepEqual(parseCpuList("7"), [7]);
  assert.deepEqual(parseCpuList(""), []);
  for (const bad of ["a", "3-1", "1,,2", "-1", "0-99999999"]) {
    assert.equal(parseCpuList(bad), undefined, bad);
  }
});

Deno.test("firstOffline() names the first number the node lacks", () => {
  assert.equal(firstOffline("0-1", "0-1"), undefined);
  assert.equal(firstOffline("1", "0-3"), undefined);
  assert.equal(firstOffline("0,2,4", "0-3"), 4);
  assert.equal(firstOffline("99", "0-1"), 99);
  assert.equal(firstOffline("x", "0-1"), undefined, "not a list: the runtime decides");
});
