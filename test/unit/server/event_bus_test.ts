/** The event bus (src/events.ts): fan-out, bounded buffers, holds, closing. */
import assert from "node:assert/strict";
import { OcidError } from "../../../src/errors.ts";
import { EventBus, type Subscription } from "../../../src/events.ts";

/** Reads `n` events from a subscription. */
async function take<T>(sub: Subscription<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  for await (const e of sub) {
    out.push(e);
    if (out.length === n) break;
  }
  return out;
}

Deno.test("EventBus.publish() reaches every subscriber, in publish order", async () => {
  const bus = new EventBus<string>();
  const a = bus.subscribe();
  const b = bus.subscribe();
  bus.publish("x", () => "one");
  bus.publish("y", () => "two");
  assert.deepEqual(await take(a, 2), ["one", "two"]);
  assert.deepEqual(await take(b, 2), ["one", "two"]);
  assert.equal(bus.size, 0, "breaking out of the loops unsubscribed both");
});

Deno.test("EventBus.publish() builds nothing while nobody listens", () => {
  const bus = new EventBus<string>();
  let built = 0;
  bus.publish("x", () => String(++built));
  assert.equal(built, 0);
  using _sub = bus.subscribe();
  bus.publish("x", () => String(++built));
  assert.equal(built, 1);
});

Deno.test("EventBus subscription sees only events published after it joined", async () => {
  const bus = new EventBus<number>();
  const early = bus.subscribe();
  bus.publish("k", () => 1);
  const late = bus.subscribe();
  bus.publish("k", () => 2);
  assert.deepEqual(await take(early, 2), [1, 2]);
  assert.deepEqual(await take(late, 1), [2]);
});

Deno.test("EventBus wakes a reader that waits for the next event", async () => {
  const bus = new EventBus<string>();
  const sub = bus.subscribe();
  const next = take(sub, 1);
  await Promise.resolve();
  bus.publish("k", () => "later");
  assert.deepEqual(await next, ["later"]);
});

Deno.test("EventBus drops a subscriber that falls more than capacity behind", async () => {
  const dropped: number[] = [];
  const bus = new EventBus<number>({ capacity: 3, onOverflow: (s) => dropped.push(s.id) });
  const slow = bus.subscribe();
  const fast = bus.subscribe();
  const fastSeen: number[] = [];
  const reading = (async () => {
    for await (const e of fast) {
      fastSeen.push(e);
      if (e === 5) break;
    }
  })();
  for (let i = 1; i <= 5; i++) {
    bus.publish("k", () => i);
    await new Promise((r) => setTimeout(r, 0)); // let the fast reader keep up
  }
  await reading;
  assert.deepEqual(fastSeen, [1, 2, 3, 4, 5], "a reader that keeps up is not affected");
  assert.deepEqual(dropped, [slow.id]);
  assert.equal(slow.signal.aborted, true, "the dropped subscription's signal is aborted");
  assert.ok(slow.signal.reason instanceof OcidError);
  assert.equal(slow.pending, 0, "its buffer is freed");
  await assert.rejects(
    take(slow, 1),
    (err) =>
      err instanceof OcidError && err.code === "RESOURCE_EXHAUSTED" &&
      /fell more than 3 events behind/.test(err.message),
  );
  assert.equal(bus.size, 0);
});

Deno.test("EventBus.close() ends every subscription's iteration normally", async () => {
  const bus = new EventBus<number>();
  const sub = bus.subscribe();
  const all = (async () => {
    const seen: number[] = [];
    for await (const e of sub) seen.push(e);
    return seen;
  })();
  bus.publish("k", () => 1);
  await new Promise((r) => setTimeout(r, 0));
  bus.close();
  assert.deepEqual(await all, [1]);
  assert.equal(bus.size, 0);
  assert.equal(sub.signal.aborted, false, "a closed subscription was not dropped");
});

Deno.test("Subscription.close() is idempotent and leaves the bus", () => {
  const bus = new EventBus<number>();
  const sub = bus.subscribe();
  assert.equal(bus.size, 1);
  sub.close();
  sub.close();
  assert.equal(bus.size, 0);
  bus.publish("k", () => 1);
  assert.equal(sub.pending, 0);
});

Deno.test("EventBus.hold() keeps a key's events back and releases them in rank order", async () => {
  const bus = new EventBus<string>();
  const sub = bus.subscribe();
  let built = 0;
  {
    using _held = bus.hold("c1");
    bus.publish("c1", () => `stopped:c1 built ${++built}`, 2);
    bus.publish("c2", () => `created:c2 built ${++built}`, 0); // another key goes out at once
    {
      using _inner = bus.hold("c1");
      bus.publish("c1", () => `started:c1 built ${++built}`, 1);
      bus.publish("c1", () => `started-again:c1 built ${++built}`, 1);
    }
    assert.equal(sub.pending, 1, "only c2's event is out while c1 is held");
    assert.equal(built, 1, "held events are built when released");
  }
  assert.deepEqual(await take(sub, 4), [
    "created:c2 built 1",
    "started:c1 built 2",
    "started-again:c1 built 3",
    "stopped:c1 built 4",
  ]);
  sub.close();
});

Deno.test("EventBus refuses a capacity below 1", () => {
  assert.throws(() => new EventBus({ capacity: 0 }), RangeError);
});
