import assert from "node:assert/strict";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../../../src/errors.ts";
import { RecordStore, type StoreRecord } from "../../../src/store/mod.ts";
import { deferred, FakeRecordFs } from "./_fake_fs.ts";

interface Meta {
  image: string;
  labels: Record<string, string>;
}
interface Status {
  n: number;
  note?: string;
}

const DIR = "/state/things";

function fakeStore(
  fs = new FakeRecordFs(),
): { store: RecordStore<Meta, Status>; fs: FakeRecordFs } {
  return {
    store: new RecordStore<Meta, Status>(DIR, { kind: "thing", file: "thing.json", fs }),
    fs,
  };
}

function rec(id: string, name = `name-${id}`, n = 0): StoreRecord<Meta, Status> {
  return { id, name, metadata: { image: "busybox", labels: { a: "b" } }, status: { n } };
}

Deno.test("RecordStore.add() persists the record and makes it findable", async () => {
  const { store, fs } = fakeStore();
  const added = await store.add(rec("abc123"));
  assert.deepEqual(added, rec("abc123"));
  assert.deepEqual(JSON.parse(fs.files.get(`${DIR}/abc123/thing.json`)!), {
    version: 1,
    ...rec("abc123"),
  });
  assert.equal(store.get("abc").id, "abc123");
  assert.equal(store.getByName("name-abc123")?.id, "abc123");
  assert.equal(store.size, 1);
  assert.deepEqual(store.list().map((r) => r.id), ["abc123"]);
  assert.equal(store.recordDir("abc123"), `${DIR}/abc123`);
});

Deno.test("RecordStore.add() rejects duplicate IDs, taken names and unsafe IDs", async () => {
  const { store } = fakeStore();
  await store.add(rec("a1", "one"));
  await assert.rejects(store.add(rec("a1", "other")), AlreadyExistsError);
  await assert.rejects(store.add(rec("b2", "one")), /name "one" is already reserved for "a1"/);
  for (const id of ["", "../x", "a/b", ".hidden"]) {
    await assert.rejects(store.add(rec(id)), InvalidArgumentError, id);
  }
  await assert.rejects(store.add(rec("c3", "")), InvalidArgumentError);
  assert.equal(store.size, 1);
});

Deno.test("RecordStore.add() frees the name when the write fails", async () => {
  const { store, fs } = fakeStore();
  fs.failWrites = new Error("disk full");
  await assert.rejects(store.add(rec("a1", "one")), /disk full/);
  assert.equal(store.find("a1"), undefined);
  assert.equal(store.getByName("one"), undefined);
  fs.failWrites = undefined;
  await store.add(rec("a2", "one"));
  assert.equal(store.getByName("one")?.id, "a2");
});

Deno.test("RecordStore.inCreation() is true from reserveName() until the record or the release", async () => {
  const { store } = fakeStore();
  assert.equal(store.inCreation("a1"), false, "unknown");
  store.reserveName("one", "a1");
  assert.equal(store.inCreation("a1"), true, "name reserved, no record yet");
  await store.add(rec("a1", "one"));
  assert.equal(store.inCreation("a1"), false, "stored");
  store.reserveName("two", "b1");
  store.releaseName("two");
  assert.equal(store.inCreation("b1"), false, "its create failed and freed the name");
});

Deno.test("RecordStore.add() reserves the name while the write is in flight", async () => {
  const { store, fs } = fakeStore();
  const gate = deferred();
  fs.gate = gate.promise;
  const first = store.add(rec("a1", "one"));
  await assert.rejects(store.add(rec("a1", "two")), AlreadyExistsError);
  await assert.rejects(store.add(rec("b1", "one")), AlreadyExistsError);
  assert.throws(() => store.get("a1"), NotFoundError, "not visible before it is written");
  gate.resolve();
  await first;
  assert.equal(store.get("a1").name, "one");
});

Deno.test("RecordStore.reserveName() holds a name for an ID before add()", async () => {
  const { store, fs } = fakeStore();
  store.reserveName("one", "a1");
  await assert.rejects(store.add(rec("b1", "one")), /reserved for "a1"/);
  assert.throws(() => store.reserveName("one", "b1"), AlreadyExistsError);
  await store.add(rec("a1", "one"));
  store.releaseName("one"); // a stored record keeps its name
  assert.equal(store.getByName("one")?.id, "a1");
  assert.equal(store.has("a1"), true);
  assert.equal(store.has("a"), false, "has() takes a full ID");

  store.reserveName("two", "c1");
  store.releaseName("two");
  await store.add(rec("d1", "two"));

  store.reserveName("three", "e1");
  fs.failWrites = new Error("disk full");
  await assert.rejects(store.add(rec("e1", "three")));
  fs.failWrites = undefined;
  await store.add(rec("f1", "three")); // the failed add freed it
});

Deno.test("RecordStore.get() and find() report missing and ambiguous IDs", async () => {
  const { store } = fakeStore();
  await store.add(rec("abc1"));
  await store.add(rec("abc2"));
  assert.throws(
    () => store.get("zz"),
    (e: unknown) => e instanceof NotFoundError && e.message === 'Cannot find thing "zz"',
  );
  assert.throws(() => store.get("abc"), InvalidArgumentError);
  assert.equal(store.find("zz"), undefined);
  assert.throws(() => store.find("abc"), InvalidArgumentError);
});

Deno.test("RecordStore records are frozen, metadata and status alike", async () => {
  const { store } = fakeStore();
  const input = rec("a1");
  const stored = await store.add(input);
  assert.throws(() => {
    (stored.status as Status).n = 5;
  }, TypeError);
  assert.throws(() => {
    (stored.metadata.labels as Record<string, string>).x = "y";
  }, TypeError);
  assert.ok(!Object.isFrozen(input.metadata), "the caller's object is not frozen");
  assert.equal(store.get("a1").status.n, 0);
});

Deno.test("RecordStore.update() writes the new status, then changes memory", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("a1"));
  const updated = await store.update("a1", (s, r) => ({ ...s, n: s.n + 1, note: r.name }));
  assert.deepEqual(updated.status, { n: 1, note: "name-a1" });
  assert.deepEqual(store.get("a1").status, { n: 1, note: "name-a1" });
  assert.deepEqual(store.get("a1").metadata, rec("a1").metadata);
  assert.deepEqual(JSON.parse(fs.files.get(`${DIR}/a1/thing.json`)!).status, {
    n: 1,
    note: "name-a1",
  });
});

Deno.test("RecordStore flushes a new record and its rename, an update only its content", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("abc123"));
  await store.update("abc123", (s) => ({ ...s, n: 1 }));
  assert.deepEqual(fs.syncs, ["all", "content"]);
});

Deno.test("RecordStore.update() writes nothing when fn returns the current status", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("abc123"));
  const before = store.get("abc123");
  const writes = fs.writes.length;
  const same = await store.update("abc123", (s) => s);
  assert.equal(fs.writes.length, writes);
  assert.equal(same, before);
  await store.update("abc123", (s) => ({ ...s }));
  assert.equal(fs.writes.length, writes + 1, "a new status object is written, even if equal");
});

Deno.test("RecordStore.update() leaves the status unchanged when the write fails", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("a1"));
  const before = fs.files.get(`${DIR}/a1/thing.json`);
  fs.failWrites = new Error("EROFS: read-only file system");
  await assert.rejects(store.update("a1", (s) => ({ ...s, n: 99 })), /EROFS/);
  assert.equal(store.get("a1").status.n, 0);
  assert.equal(fs.files.get(`${DIR}/a1/thing.json`), before);
  fs.failWrites = undefined;
  await store.update("a1", (s) => ({ ...s, n: s.n + 1 }));
  assert.equal(store.get("a1").status.n, 1);
});

Deno.test("RecordStore.update() leaves the status unchanged when fn throws", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("a1"));
  const writes = fs.writes.length;
  await assert.rejects(
    store.update("a1", () => {
      throw new Error("not allowed");
    }),
    /not allowed/,
  );
  assert.equal(fs.writes.length, writes);
  assert.equal(store.get("a1").status.n, 0);
  await assert.rejects(store.update("nope", (s) => s), NotFoundError);
});

Deno.test("RecordStore.update() runs concurrent updates of one record in call order", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("a1"));
  await store.add(rec("b1"));
  const gate = deferred();
  fs.gate = gate.promise;
  const seen: number[] = [];
  const bump = (s: Readonly<Status>) => {
    seen.push(s.n);
    return { ...s, n: s.n + 1 };
  };
  const updates = [store.update("a1", bump), store.update("a1", bump), store.update("a1", bump)];
  // Let every queued step that can run, run: only the first fn may have been called.
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.deepEqual(seen, [0], "the second update must wait for the first write");
  gate.resolve();
  const results = await Promise.all(updates);
  assert.deepEqual(results.map((r) => r.status.n), [1, 2, 3]);
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(store.get("a1").status.n, 3);
  assert.equal(JSON.parse(fs.files.get(`${DIR}/a1/thing.json`)!).status.n, 3);
  assert.equal(store.get("b1").status.n, 0);
});

Deno.test("RecordStore.update() after a failed one starts from the last written status", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("a1"));
  const gate = deferred();
  fs.gate = gate.promise;
  fs.failNextWrites = 1;
  const first = store.update("a1", (s) => ({ ...s, n: 10 }));
  const second = store.update("a1", (s) => ({ ...s, n: s.n + 1 }));
  gate.resolve();
  await assert.rejects(first, /injected write failure/);
  assert.equal((await second).status.n, 1);
  assert.equal(store.get("a1").status.n, 1);
});

Deno.test("RecordStore.delete() removes the record after pending updates", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("a1", "one"));
  const gate = deferred();
  fs.gate = gate.promise;
  const update = store.update("a1", (s) => ({ ...s, n: 1 }));
  const del = store.delete("a1");
  assert.equal(store.get("a1").status.n, 0, "still there while the update is pending");
  gate.resolve();
  await update;
  await del;
  assert.equal(store.find("a1"), undefined);
  assert.equal(fs.files.size, 0);
  assert.ok(!fs.dirs.has(`${DIR}/a1`));
  await store.delete("a1"); // idempotent
  await store.add(rec("b1", "one")); // the name is free
  await assert.rejects(store.update("a1", (s) => s), NotFoundError);
});

Deno.test("RecordStore.delete() keeps other files in the record directory", async () => {
  const { store, fs } = fakeStore();
  await store.add(rec("a1"));
  fs.files.set(`${DIR}/a1/exit`, "0");
  await store.delete("a1");
  assert.equal(store.find("a1"), undefined);
  assert.ok(fs.dirs.has(`${DIR}/a1`));
  assert.equal(fs.files.get(`${DIR}/a1/exit`), "0");
});

Deno.test("RecordStore.delete() removes the temp file a crash left mid-write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-store-" });
  try {
    const store = new RecordStore<Meta, Status>(dir, { kind: "thing", file: "thing.json" });
    await store.add(rec("a1"));
    await Deno.writeTextFile(`${dir}/a1/.thing.json.123.tmp`, "{");
    await store.delete("a1");
    await assert.rejects(Deno.stat(`${dir}/a1`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordStore persists to disk and load() reads it back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-store-" });
  try {
    const a = new RecordStore<Meta, Status>(dir, { kind: "thing", file: "thing.json" });
    await a.add(rec("a1", "one"));
    await a.add(rec("b2", "two"));
    await a.add(rec("c3", "three"));
    await a.update("b2", (s) => ({ ...s, n: 7, note: 'ü\n"' }));
    await a.delete("c3");
    const st = await Deno.stat(`${dir}/a1/thing.json`);
    assert.ok(st.isFile);

    const b = new RecordStore<Meta, Status>(dir, { kind: "thing", file: "thing.json" });
    const report = await b.load();
    assert.deepEqual(report, { loaded: ["a1", "b2"], skipped: [] });
    const byId = (s: RecordStore<Meta, Status>) =>
      s.list().sort((x, y) => x.id.localeCompare(y.id));
    assert.deepEqual(byId(b), byId(a));
    assert.equal(b.getByName("two")?.status.note, 'ü\n"');
    await assert.rejects(b.add(rec("z9", "one")), AlreadyExistsError);
    assert.ok(Object.isFrozen(b.get("a1").status));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RecordStore.load() of a missing directory loads nothing", async () => {
  const store = new RecordStore<Meta, Status>("/nonexistent/ocid-test-dir", {
    kind: "thing",
    file: "thing.json",
  });
  assert.deepEqual(await store.load(), { loaded: [], skipped: [] });
});

Deno.test("RecordStore.load() skips and reports corrupt records", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-store-" });
  try {
    const good = new RecordStore<Meta, Status>(dir, { kind: "thing", file: "thing.json" });
    await good.add(rec("good", "taken"));
    const write = async (id: string, text: string) => {
      await Deno.mkdir(`${dir}/${id}`);
      await Deno.writeTextFile(`${dir}/${id}/thing.json`, text);
    };
    const body = (o: object) => JSON.stringify({ version: 1, ...rec("x"), ...o });
    await write("badjson", "{ truncated");
    await write("wrongid", body({ id: "other" }));
    await write("noname", body({ id: "noname", name: "" }));
    await write("zdupname", body({ id: "zdupname", name: "taken" }));
    await write("version", body({ id: "version", version: 2 }));
    await write("nostatus", body({ id: "nostatus", status: null }));
    await write("array", "[]");
    await Deno.mkdir(`${dir}/nofile`);
    await Deno.mkdir(`${dir}/.tmp-ignored`);
    await Deno.writeTextFile(`${dir}/stray-file`, "x");

    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (msg: string, f?: Record<string, unknown>) => warnings.push(`${msg} ${f?.path}`),
      error() {},
    };
    const store = new RecordStore<Meta, Status>(dir, { kind: "thing", file: "thing.json", logger });
    const report = await store.load();
    assert.deepEqual(report.loaded, ["good"]);
    const reasons = Object.fromEntries(report.skipped.map((s) => [s.id, s.reason]));
    assert.deepEqual(Object.keys(reasons).sort(), [
      "array",
      "badjson",
      "nofile",
      "noname",
      "nostatus",
      "version",
      "wrongid",
      "zdupname",
    ]);
    assert.match(reasons.badjson!, /JSON/);
    assert.match(reasons.wrongid!, /"other" is not its directory name/);
    assert.match(reasons.zdupname!, /"taken" is already reserved for "good"/);
    assert.match(reasons.version!, /unknown record version 2/);
    assert.match(reasons.nostatus!, /status is not an object/);
    assert.equal(reasons.nofile, "record file missing");
    assert.equal(warnings.length, 8);
    assert.ok(warnings.some((w) => w.endsWith(`${dir}/badjson/thing.json`)));
    assert.equal(store.size, 1);
    // Skipped files stay for inspection.
    assert.equal(await Deno.readTextFile(`${dir}/badjson/thing.json`), "{ truncated");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
