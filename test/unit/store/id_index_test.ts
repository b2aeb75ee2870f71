import assert from "node:assert/strict";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../../../src/errors.ts";
import { IdIndex } from "../../../src/store/mod.ts";

function index(...ids: string[]): IdIndex {
  const i = new IdIndex({ kind: "container" });
  for (const id of ids) i.add(id);
  return i;
}

Deno.test("IdIndex.get() resolves a unique prefix", () => {
  const i = index("abc123", "abd456", "f00");
  assert.equal(i.get("abc"), "abc123");
  assert.equal(i.get("abd"), "abd456");
  assert.equal(i.get("f"), "f00");
  assert.equal(i.get("abc123"), "abc123");
});

Deno.test("IdIndex.get() resolves a full ID that is also a prefix of another", () => {
  const i = index("abc", "abcdef");
  assert.equal(i.get("abc"), "abc");
  assert.equal(i.get("abcd"), "abcdef");
});

Deno.test("IdIndex.get() rejects an ambiguous prefix as an invalid argument", () => {
  const i = index("abc123", "abd456", "abe789");
  assert.throws(
    () => i.get("ab"),
    (err: unknown) =>
      err instanceof InvalidArgumentError &&
      /^Ambiguous container ID prefix "ab": it matches "abc123", "abd456" and more/.test(
        err.message,
      ),
  );
  assert.throws(() => index("a1", "a2").get("a"), /matches "a1", "a2"; give more/);
});

Deno.test("IdIndex.get() reports a missing ID as not found", () => {
  const i = index("abc");
  assert.throws(
    () => i.get("abd"),
    (err: unknown) => err instanceof NotFoundError && err.message === 'Cannot find container "abd"',
  );
  assert.throws(() => i.get("abcd"), NotFoundError);
  assert.throws(() => new IdIndex().get("x"), NotFoundError);
  assert.throws(() => i.get(""), InvalidArgumentError);
});

Deno.test("IdIndex.add() rejects duplicates and empty IDs", () => {
  const i = index("abc");
  assert.throws(() => i.add("abc"), AlreadyExistsError);
  assert.throws(() => i.add(""), InvalidArgumentError);
  assert.equal(i.size, 1);
});

Deno.test("IdIndex.delete() removes an ID so prefixes become unique", () => {
  const i = index("abc1", "abc2");
  assert.equal(i.delete("abc1"), true);
  assert.equal(i.delete("abc1"), false);
  assert.equal(i.delete("abc"), false, "delete takes a full ID, not a prefix");
  assert.equal(i.get("abc"), "abc2");
  assert.equal(i.has("abc1"), false);
  assert.deepEqual(i.list(), ["abc2"]);
});

Deno.test("IdIndex handles 10,000 random IDs", () => {
  const hex = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
  const ids = Array.from({ length: 10_000 }, hex);
  const i = new IdIndex();
  for (const id of ids) i.add(id);
  assert.equal(i.size, 10_000);
  const sorted = [...ids].sort();
  assert.deepEqual(i.list(), sorted);
  for (const id of ids) assert.equal(i.get(id.slice(0, 12)), id);
  for (const id of ids.slice(0, 5000)) assert.ok(i.delete(id));
  for (const id of ids.slice(5000)) assert.equal(i.get(id), id);
  for (const id of ids.slice(0, 5000)) assert.throws(() => i.get(id), NotFoundError);
});
