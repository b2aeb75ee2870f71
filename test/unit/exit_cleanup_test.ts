/**
 * ExitCleanup: the runtime delete and rootfs unmount after an exit run once in the background,
 * removal awaits them or does them itself, holds defer them, failures are logged and retried.
 */
import assert from "node:assert/strict";
import { ExitCleanup } from "../../src/exit_cleanup.ts";
import type { Logger } from "../../src/log.ts";

/** A runtime and image service that record calls; `gate` keeps the delete waiting. */
class Fake {
  calls: string[] = [];
  failDelete: Error | undefined;
  failUnmount: Error | undefined;
  gate: Promise<void> = Promise.resolve();
  warnings: string[] = [];
  runtime = {
    delete: async (id: string, opts?: { force?: boolean }) => {
      this.calls.push(`delete ${id}${opts?.force ? " --force" : ""}`);
      await this.gate;
      if (this.failDelete) throw this.failDelete;
    },
  };
  images = {
    unmountRootfs: (id: string) => {
      this.calls.push(`unmount ${id}`);
      return this.failUnmount ? Promise.reject(this.failUnmount) : Promise.resolve();
    },
  };
  log: Logger = {
    debug() {},
    info() {},
    warn: (msg, fields) => this.warnings.push(`${msg} ${String(fields?.error)}`),
    error() {},
  };
  cleanup(): ExitCleanup {
    return new ExitCleanup({ runtime: this.runtime, images: this.images, log: this.log });
  }
}

Deno.test("ExitCleanup.start() deletes and unmounts once; finish() awaits it", async () => {
  const fake = new Fake();
  let open!: () => void;
  fake.gate = new Promise((r) => open = r);
  const cleanup = fake.cleanup();
  cleanup.start("c1");
  cleanup.start("c1");
  assert.deepEqual(fake.calls, [], "not on the caller's turn of the event loop");
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(fake.calls, ["delete c1 --force", "unmount c1"]);
  let finished = false;
  const finishing = cleanup.finish("c1").then(() => finished = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(finished, false, "finish() waits for the delete under way");
  open();
  await finishing;
  await cleanup.finish("c1");
  assert.deepEqual(fake.calls, ["delete c1 --force", "unmount c1"], "nothing runs twice");
});

Deno.test("ExitCleanup.finish() does the work itself when none was started", async () => {
  const fake = new Fake();
  const cleanup = fake.cleanup();
  await cleanup.finish("c1");
  assert.deepEqual(fake.calls, ["delete c1 --force", "unmount c1"]);
  fake.failDelete = new Error("runc: boom");
  await assert.rejects(cleanup.finish("c2"), /runc: boom/);
  assert.deepEqual(fake.calls.slice(2), ["delete c2 --force", "unmount c2"], "both tried");
});

Deno.test("ExitCleanup: a failed background attempt is logged and finish() retries", async () => {
  const fake = new Fake();
  fake.failUnmount = new Error("EBUSY");
  const cleanup = fake.cleanup();
  cleanup.start("c1");
  await cleanup.settled();
  assert.equal(fake.warnings.length, 1);
  assert.match(fake.warnings[0]!, /Cannot clean up after an exit.*EBUSY/);
  fake.failUnmount = undefined;
  await cleanup.finish("c1");
  assert.deepEqual(fake.calls, [
    "delete c1 --force",
    "unmount c1",
    "delete c1 --force",
    "unmount c1",
  ]);
});

Deno.test("ExitCleanup.hold() defers a start until released", async (t) => {
  await t.step("the deferred start runs at the release", async () => {
    const fake = new Fake();
    const cleanup = fake.cleanup();
    const outer = cleanup.hold("c1");
    const inner = cleanup.hold("c1");
    cleanup.start("c1");
    inner[Symbol.dispose]();
    assert.deepEqual(fake.calls, [], "still held by the outer hold");
    outer[Symbol.dispose]();
    outer[Symbol.dispose]();
    await cleanup.settled();
    assert.deepEqual(fake.calls, ["delete c1 --force", "unmount c1"]);
  });
  await t.step("a release without a start starts nothing", async () => {
    const fake = new Fake();
    const cleanup = fake.cleanup();
    cleanup.hold("c1")[Symbol.dispose]();
    await cleanup.settled();
    assert.deepEqual(fake.calls, []);
  });
  await t.step("finish() while held does the work; the release does not redo it", async () => {
    const fake = new Fake();
    const cleanup = fake.cleanup();
    const hold = cleanup.hold("c1");
    cleanup.start("c1");
    await cleanup.finish("c1");
    hold[Symbol.dispose]();
    await cleanup.settled();
    assert.deepEqual(fake.calls, ["delete c1 --force", "unmount c1"]);
  });
});

Deno.test("ExitCleanup.forget() drops the record: a later finish() does the work again", async () => {
  const fake = new Fake();
  const cleanup = fake.cleanup();
  cleanup.start("c1");
  await cleanup.settled();
  cleanup.forget("c1");
  await cleanup.finish("c1");
  assert.equal(fake.calls.length, 4);
});

Deno.test("ExitCleanup.settled() waits for every background cleanup", async () => {
  const fake = new Fake();
  let open!: () => void;
  fake.gate = new Promise((r) => open = r);
  const cleanup = fake.cleanup();
  cleanup.start("c1");
  cleanup.start("c2");
  let settled = false;
  const settling = cleanup.settled().then(() => settled = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(settled, false);
  open();
  await settling;
});
