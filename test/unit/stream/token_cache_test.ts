import assert from "node:assert/strict";
import { OcidError } from "../../../src/errors.ts";
import { TokenCache } from "../../../src/stream/token_cache.ts";

Deno.test("TokenCache.consume() returns the request once", () => {
  const cache = new TokenCache<string>();
  const token = cache.insert("req");
  assert.match(token, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(cache.consume(token), "req");
  assert.equal(cache.consume(token), undefined);
});

Deno.test("TokenCache.consume() refuses an expired token", () => {
  let now = 1_000;
  const cache = new TokenCache<string>({ now: () => now, ttlMs: 60_000 });
  const a = cache.insert("a");
  const b = cache.insert("b");
  now += 59_999;
  assert.equal(cache.consume(a), "a");
  now += 1;
  assert.equal(cache.consume(b), undefined);
  assert.equal(cache.size, 0);
});

Deno.test("TokenCache.insert() fails with RESOURCE_EXHAUSTED when too many wait", () => {
  let now = 0;
  const cache = new TokenCache<number>({ now: () => now, maxPending: 2 });
  cache.insert(1);
  cache.insert(2);
  assert.throws(
    () => cache.insert(3),
    (err) => err instanceof OcidError && err.code === "RESOURCE_EXHAUSTED",
  );
  now += 60_000; // both expire and make room
  cache.insert(3);
  assert.equal(cache.size, 1);
});

Deno.test("TokenCache.insert() draws new random bytes on a collision", () => {
  let calls = 0;
  const cache = new TokenCache<number>({
    random: (bytes) => bytes.fill(calls++ < 2 ? 7 : 9),
  });
  const a = cache.insert(1);
  const b = cache.insert(2);
  assert.notEqual(a, b);
  assert.equal(calls, 3);
});
