import assert from "node:assert/strict";
import { RetriedCreations } from "../../../src/server/retried_creations.ts";

Deno.test("RetriedCreations: a retry joins the creation under way, or gets once the ID kept for a client that gave up", async () => {
  const c = new RetriedCreations();
  const made = new Set<string>();
  let n = 0;
  const gate = Promise.withResolvers<void>();
  const create = async () => {
    await gate.promise;
    const id = `id${++n}`;
    made.add(id);
    return id;
  };
  const exists = (id: string) => made.has(id);
  const gaveUp = new AbortController();
  const first = c.run("a", create, { exists, signal: gaveUp.signal });
  const said: string[] = [];
  const log = { info: (m: string) => said.push(m) };
  const second = c.run("a", create, { exists, log, rpc: "Create" });
  gaveUp.abort();
  gate.resolve();
  assert.deepEqual(await Promise.all([first, second]), ["id1", "id1"]);
  assert.deepEqual(said, ['Create: "a" is being created, waiting for it']);
  assert.equal(n, 1, "one creation");
  // The retry joined: nothing was kept, so a new request creates again (the store refuses a
  // duplicate name in real use).
  assert.equal(await c.run("a", create, { exists }), "id2");

  // A creation whose client gave up, with no retry yet: its ID is kept for the next request.
  const lost = new AbortController();
  lost.abort();
  assert.equal(await c.run("b", create, { exists, signal: lost.signal }), "id3");
  said.length = 0;
  assert.equal(await c.run("b", create, { exists, log, rpc: "Create" }), "id3");
  assert.deepEqual(said, ["Create: returning what was made for a request that gave up"]);
  assert.equal(await c.run("b", create, { exists }), "id4", "given once");

  // A kept ID whose object was removed meanwhile is not given.
  const gone = new AbortController();
  gone.abort();
  assert.equal(await c.run("c", create, { exists, signal: gone.signal }), "id5");
  made.delete("id5");
  assert.equal(await c.run("c", create, { exists }), "id6");

  // A failed creation: the joined request tries again itself.
  const failing = Promise.withResolvers<string>();
  const one = c.run("d", () => failing.promise, { exists });
  const two = c.run("d", create, { exists });
  failing.reject(new Error("no"));
  await assert.rejects(one, /no/);
  assert.equal(await two, "id7");
});
