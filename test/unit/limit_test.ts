import assert from "node:assert/strict";
import { Limiter } from "../../src/limit.ts";

const tick = () => new Promise((r) => setTimeout(r, 1));

Deno.test("Limiter runs at most max tasks, first come first served, and frees a failed one's place", async () => {
  const limiter = new Limiter(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const task = (n: number) => async () => {
    started.push(n);
    most = Math.max(most, ++running);
    await tick();
    running--;
    if (n === 1) throw new Error("one failed");
    return n;
  };
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => limiter.run(task(n))));
  assert.equal(most, 2);
  assert.deepEqual(started, [1, 2, 3, 4, 5]);
  assert.deepEqual(results.map((r) => r.status), [
    "rejected",
    "fulfilled",
    "fulfilled",
    "fulfilled",
    "fulfilled",
  ]);
  assert.equal(limiter.running, 0);
  assert.equal(limiter.waiting, 0);
  assert.equal(new Limiter(0).max, 1);
});

Deno.test("Limiter gives a task's place up after holdMs, and the task runs on", async () => {
  const limiter = new Limiter(1, { holdMs: 20 });
  let release!: () => void;
  const hung = limiter.run(() => new Promise<string>((r) => release = () => r("hung")));
  const t0 = performance.now();
  assert.equal(await limiter.run(() => Promise.resolve("next")), "next");
  const waited = performance.now() - t0;
  assert.ok(waited >= 15, `the next task waited ${waited} ms, not the hold`);
  assert.equal(limiter.running, 0, "the hung task holds no place");
  release();
  assert.equal(await hung, "hung");
  assert.equal(limiter.running, 0);
  const quick = new Limiter(1, { holdMs: 20 });
  await quick.run(() => Promise.resolve());
  assert.equal(quick.running, 0, "a task that settles first frees its place once");
});
