import assert from "node:assert/strict";
import { memoryRelease } from "../../src/memory_release.ts";
import { defaultTrimMemory, openMallocTrim } from "../../src/sys/malloc_trim.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("memoryRelease() trims once, a delay after the last of a burst of requests", async () => {
  let trims = 0;
  const release = memoryRelease(() => trims++, { delayMs: 50 });
  release.soon();
  await sleep(20);
  release.soon();
  release.soon();
  await sleep(30);
  assert.equal(trims, 0, "the burst moved the trim");
  await sleep(60);
  assert.equal(trims, 1);
  release.soon();
  release.close();
  await sleep(80);
  assert.equal(trims, 1, "close() cancels a pending trim");
});

Deno.test("memoryRelease() still trims while requests never pause, maxWaitMs after the first", async () => {
  let trims = 0;
  const release = memoryRelease(() => trims++, { delayMs: 40, maxWaitMs: 100 });
  // A request every 10 ms for 250 ms: never 40 ms of quiet.
  for (let i = 0; i < 25; i++) {
    release.soon();
    await sleep(10);
  }
  assert.ok(trims >= 2, `trimmed ${trims} times in 250 ms of requests`);
  const during = trims;
  await sleep(150);
  assert.equal(trims, during + 1, "and once more after the last request");
  release.close();
});

Deno.test("openMallocTrim() binds glibc's malloc_trim, and a missing library throws", async () => {
  const trim = openMallocTrim();
  const answer = trim();
  assert.ok(answer instanceof Promise, "the trim runs off the JS thread");
  assert.equal(typeof await answer, "boolean");
  assert.throws(() => openMallocTrim("libnope-ocid.so.0"));
  assert.equal(typeof await defaultTrimMemory()(), "boolean");
});

Deno.test("memoryRelease() survives a trim that throws or rejects", async () => {
  const release = memoryRelease(() => Promise.reject(new Error("no trim")), { delayMs: 1 });
  release.soon();
  await sleep(20);
  const throwing = memoryRelease(() => {
    throw new Error("no trim");
  }, { delayMs: 1 });
  throwing.soon();
  await sleep(20);
});
