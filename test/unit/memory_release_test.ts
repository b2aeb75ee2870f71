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

Deno.test("openMallocTrim() binds glibc's malloc_trim, and a missing library throws", () => {
  const trim = openMallocTrim();
  assert.equal(typeof trim(), "boolean");
  assert.throws(() => openMallocTrim("libnope-ocid.so.0"));
  assert.equal(typeof defaultTrimMemory()(), "boolean");
});
