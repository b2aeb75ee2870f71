import assert from "node:assert/strict";
import { ExitHub } from "../../src/exit_hub.ts";

Deno.test("ExitHub.wait() ends on the exit, the timeout or an abort, and forgets its waiter", async () => {
  const hub = new ExitHub();
  const exit = { exitCode: 0, finishedAt: new Date() };
  const waiting = hub.wait("a", 60_000);
  hub.deliver("a", exit);
  assert.equal(await waiting, exit);
  assert.equal(await hub.wait("b", 1), undefined, "timeout");

  const abort = new AbortController();
  const aborted = hub.wait("c", 60_000, abort.signal);
  abort.abort();
  assert.equal(await aborted, undefined, "abort, long before the timeout");
  assert.equal(await hub.wait("c", 60_000, abort.signal), undefined, "already aborted");
  // The aborted waiter is gone: a later exit reaches only the waiters still there.
  const later = hub.wait("c", 60_000);
  hub.deliver("c", exit);
  assert.equal(await later, exit);
});
