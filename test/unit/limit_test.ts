import assert from "node:assert/strict";
import { forEachLimited } from "../../src/limit.ts";

const tick = () => new Promise((r) => setTimeout(r, 1));

Deno.test("forEachLimited() runs every item, never more than the limit at once", async () => {
  let running = 0;
  let most = 0;
  const done: number[] = [];
  await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
    most = Math.max(most, ++running);
    await tick();
    done.push(n);
    running--;
  });
  assert.equal(most, 3);
  assert.deepEqual(done.sort(), [1, 2, 3, 4, 5, 6, 7]);
  await forEachLimited([], 3, () => Promise.reject(new Error("never")));
  let ran = 0;
  await forEachLimited([1, 2], 0, () => Promise.resolve(void ran++));
  assert.equal(ran, 2, "a limit below 1 still runs one at a time");
});

Deno.test("forEachLimited() lets every task end, then throws the first failure", async () => {
  const ended: number[] = [];
  await assert.rejects(
    forEachLimited([1, 2, 3, 4], 2, async (n) => {
      await tick();
      ended.push(n);
      if (n === 2 || n === 3) throw new Error(`failed ${n}`);
    }),
    /failed 2/,
  );
  assert.deepEqual(ended.sort(), [1, 2, 3, 4]);
});
