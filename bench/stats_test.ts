import assert from "node:assert/strict";
import { percentile, ratio, summarize } from "./stats.ts";

Deno.test("percentile() takes the nearest rank", () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(s, 50), 50);
  assert.equal(percentile(s, 95), 95);
  assert.equal(percentile(s, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.throws(() => percentile([], 50), RangeError);
});

Deno.test("summarize() sorts and returns undefined for no samples", () => {
  assert.equal(summarize([]), undefined);
  const s = summarize([3, 1, 2])!;
  assert.deepEqual([s.n, s.p50, s.min, s.max, s.mean], [3, 2, 1, 3, 2]);
});

Deno.test("ratio() is undefined when a side is missing or zero", () => {
  assert.equal(ratio(4, 2), 2);
  assert.equal(ratio(undefined, 2), undefined);
  assert.equal(ratio(4, 0), undefined);
});
