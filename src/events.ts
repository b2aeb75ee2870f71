/**
 * An in-memory event bus: publishers hand events to every current subscriber; each subscriber
 * reads them in order through an async iterator with a bounded buffer of its own.
 *
 * A subscriber that falls behind by more than `capacity` events is dropped: its iterator throws
 * a RESOURCE_EXHAUSTED {@linkcode OcidError}, so the client learns it missed events and can
 * re-list, instead of the daemon's memory growing without limit or events vanishing silently.
 *
 * Publishers may *hold* a key (a container ID) for the length of one transition: events for that
 * key are kept back and released together, ordered by their `rank`, when the hold ends; a held
 * event is built when it is released, so it describes the state at that time. StartContainer
 * uses it so that an exit recorded before the start itself is published still goes out after
 * the start event.
 *
 * @example
 * ```ts
 * const bus = new EventBus<string>({ capacity: 100 });
 * const sub = bus.subscribe();
 * bus.publish("c1", () => "created");
 * for await (const event of sub) console.log(event); // "created", until sub.close()
 * ```
 *
 * @module
 */
import { OcidError } from "./errors.ts";

/** Options of {@linkcode EventBus}. */
export interface EventBusOptions<T> {
  /**
   * Events one subscriber may have waiting; one more drops that subscriber.
   * @default 1024
   */
  capacity?: number;
  /** Called when a subscriber is dropped for falling behind. */
  onOverflow?: (subscriber: Subscription<T>) => void;
}

/** One subscriber's view of the bus: an async iterator of the events published after it joined. */
export interface Subscription<T> extends AsyncIterable<T>, Disposable {
  /** A number unique within the bus, for logs. */
  readonly id: number;
  /** Events published and not yet read. */
  readonly pending: number;
  /**
   * Aborted when the subscriber is dropped for falling behind, with the RESOURCE_EXHAUSTED
   * error as its reason: a reader blocked elsewhere (on a slow client) can stop waiting.
   */
  readonly signal: AbortSignal;
  /** Leaves the bus: a waiting or later read ends the iteration. Idempotent. */
  close(): void;
}

/** Fans out published events to subscribers, each with a bounded buffer. */
export class EventBus<T> {
  #capacity: number;
  #onOverflow: ((subscriber: Subscription<T>) => void) | undefined;
  #subscribers = new Set<Subscriber<T>>();
  #held = new Map<string, { count: number; events: Held<T>[] }>();
  #nextId = 1;

  constructor(options: EventBusOptions<T> = {}) {
    const capacity = options.capacity ?? 1024;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`EventBus capacity must be a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
    this.#onOverflow = options.onOverflow;
  }

  /** The number of current subscribers. */
  get size(): number {
    return this.#subscribers.size;
  }

  /**
   * Joins the bus: the subscription sees every event published from now on until it is closed
   * (by `close()`, by breaking out of a `for await` loop, or by {@linkcode EventBus.close}).
   */
  subscribe(): Subscription<T> {
    const sub = new Subscriber<T>(this.#nextId++, this.#capacity, (s) => {
      this.#subscribers.delete(s);
    });
    this.#subscribers.add(sub);
    return sub;
  }

  /**
   * Publishes an event about `key`. `make` is called only when there is a subscriber, so an
   * event that costs something to build costs nothing while nobody listens.
   *
   * @param key What the event is about (a container or sandbox ID), for holds.
   * @param make Builds the event; for a held key, when the hold ends.
   * @param rank Where the event goes among the events of a hold (lower first; equal ranks
   * keep publish order).
   */
  publish(key: string, make: () => T, rank = 0): void {
    if (this.#subscribers.size === 0) return;
    const held = this.#held.get(key);
    if (held) {
      held.events.push({ make, rank });
      return;
    }
    this.#deliver(make());
  }

  /**
   * Keeps events about `key` back until the returned handle is disposed; they are then
   * published in `rank` order. Holds of one key nest: the last release publishes.
   */
  hold(key: string): Disposable {
    let held = this.#held.get(key);
    if (!held) this.#held.set(key, held = { count: 0, events: [] });
    held.count++;
    let released = false;
    return {
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        const h = this.#held.get(key)!;
        if (--h.count > 0) return;
        this.#held.delete(key);
        const order = h.events.map((e, i) => ({ e, i }))
          .sort((a, b) => a.e.rank - b.e.rank || a.i - b.i);
        for (const { e } of order) {
          if (this.#subscribers.size > 0) this.#deliver(e.make());
        }
      },
    };
  }

  /** Ends every subscription (shutdown): their iterations finish normally. */
  close(): void {
    for (const sub of [...this.#subscribers]) sub.close();
  }

  #deliver(event: T): void {
    for (const sub of [...this.#subscribers]) {
      if (!sub.push(event)) this.#onOverflow?.(sub);
    }
  }
}

/** An event kept back by a hold. */
interface Held<T> {
  make: () => T;
  rank: number;
}

/** A subscription's buffer and its single reader. */
class Subscriber<T> implements Subscription<T> {
  readonly id: number;
  #capacity: number;
  #queue: T[] = [];
  #head = 0;
  #closed = false;
  #failure: OcidError | undefined;
  #dropped = new AbortController();
  #wake: (() => void) | undefined;
  #onClose: (s: Subscriber<T>) => void;

  constructor(id: number, capacity: number, onClose: (s: Subscriber<T>) => void) {
    this.id = id;
    this.#capacity = capacity;
    this.#onClose = onClose;
  }

  get signal(): AbortSignal {
    return this.#dropped.signal;
  }

  get pending(): number {
    return this.#queue.length - this.#head;
  }

  /** Queues an event; false (and the subscription dropped) when the buffer is full. */
  push(event: T): boolean {
    if (this.#closed) return true;
    if (this.pending >= this.#capacity) {
      this.#overflow();
      return false;
    }
    this.#queue.push(event);
    this.#wakeReader();
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    this.#onClose(this);
    this.#wakeReader();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.#failure) throw this.#failure;
        if (this.#head < this.#queue.length) {
          const event = this.#queue[this.#head]!;
          this.#queue[this.#head++] = undefined as T; // let it be collected
          if (this.#head > 64 && this.#head * 2 > this.#queue.length) {
            this.#queue = this.#queue.slice(this.#head);
            this.#head = 0;
          }
          yield event;
          continue;
        }
        if (this.#closed) return;
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
    } finally {
      this.close();
    }
  }

  #overflow(): void {
    this.#failure = new OcidError(
      "RESOURCE_EXHAUSTED",
      `Event subscriber ${this.id} fell more than ${this.#capacity} events behind and was ` +
        `dropped; subscribe again and re-list`,
    );
    this.close();
    this.#dropped.abort(this.#failure);
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
