import assert from "node:assert/strict";
import { AlreadyExistsError, InvalidArgumentError } from "../../../src/errors.ts";
import { NameRegistry } from "../../../src/store/mod.ts";

Deno.test("NameRegistry.reserve() names the holder of a taken name", () => {
  const r = new NameRegistry({ kind: "container" });
  r.reserve("k8s_app_pod_ns_uid_0", "id1");
  assert.throws(
    () => r.reserve("k8s_app_pod_ns_uid_0", "id2"),
    (err: unknown) =>
      err instanceof AlreadyExistsError &&
      err.message.includes('"k8s_app_pod_ns_uid_0" is already reserved for "id1"'),
  );
  assert.equal(r.get("k8s_app_pod_ns_uid_0"), "id1");
});

Deno.test("NameRegistry.reserve() is idempotent for the same key", () => {
  const r = new NameRegistry();
  r.reserve("a", "k");
  r.reserve("a", "k");
  assert.deepEqual(r.namesOf("k"), ["a"]);
});

Deno.test("NameRegistry.reserve() rejects empty names and keys", () => {
  const r = new NameRegistry();
  assert.throws(() => r.reserve("", "k"), InvalidArgumentError);
  assert.throws(() => r.reserve("a", ""), InvalidArgumentError);
});

Deno.test("NameRegistry.release() frees a name", () => {
  const r = new NameRegistry();
  r.reserve("a", "k1");
  r.release("a");
  r.release("a");
  assert.equal(r.get("a"), undefined);
  assert.deepEqual(r.namesOf("k1"), []);
  r.reserve("a", "k2");
  assert.equal(r.get("a"), "k2");
});

Deno.test("NameRegistry.releaseByKey() frees every name of a key", () => {
  const r = new NameRegistry();
  r.reserve("a", "k1");
  r.reserve("b", "k1");
  r.reserve("c", "k2");
  r.releaseByKey("k1");
  r.releaseByKey("nobody");
  assert.equal(r.get("a"), undefined);
  assert.equal(r.get("b"), undefined);
  assert.equal(r.get("c"), "k2");
});
