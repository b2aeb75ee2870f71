import assert from "node:assert/strict";
import { settleAll } from "../../src/settle.ts";

const later = <T>(ms: number, f: () => T) =>
  new Promise<T>((resolve, reject) =>
    setTimeout(() => {
      try {
        resolve(f());
      } catch (e) {
        reject(e);
      }
    }, ms)
  );

Deno.test("settleAll() returns every value, in order", async () => {
  const [a, b] = await settleAll([later(3, () => 1), later(1, () => "two")]);
  assert.equal(a, 1);
  assert.equal(b, "two");
  assert.deepEqual(await settleAll([]), []);
});

Deno.test("settleAll() waits for every branch, then throws the first failure in order", async () => {
  const ended: string[] = [];
  const branch = (name: string, ms: number, fail: boolean) =>
    later(ms, () => {
      ended.push(name);
      if (fail) throw new Error(`${name} failed`);
      return name;
    });
  await assert.rejects(
    settleAll([
      branch("a", 1, false),
      branch("b", 6, true),
      branch("c", 2, true),
      branch("d", 9, false),
    ]),
    /b failed/,
  );
  assert.deepEqual(ended.sort(), ["a", "b", "c", "d"], "nothing still runs when it throws");
});
