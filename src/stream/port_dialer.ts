/**
 * Connections to `localhost:<port>` (127.0.0.1, then ::1) inside a pod's network namespace, for
 * port-forward.
 * {@linkcode createNetnsDialer} runs a worker thread that enters the namespace with setns(2)
 * (`port_forward_worker.ts`); a pod on the host network is dialed directly.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { DialerEvent, DialerRequest } from "./port_forward_worker.ts";
import { connectLoopback } from "./loopback.ts";

/** One TCP connection in the pod. */
export interface PortConnection {
  /**
   * Sends bytes to the pod's server. Resolves once at most {@linkcode POD_WRITE_WINDOW} bytes
   * are still on their way, so a caller that awaits each write holds a bounded amount for a
   * pod that reads slowly. Never rejects: bytes for a closed connection are dropped.
   */
  write(data: Uint8Array): Promise<void>;
  /** Half-closes our side (the client sent FIN). */
  closeWrite(): void;
  /** Closes the connection. */
  close(): void;
  /**
   * What the pod's server sends, until it closes its side. The pod stops being read while
   * {@linkcode POD_READ_WINDOW} bytes wait here unread.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
}

/** Opens connections in one pod. */
export interface PortDialer {
  /**
   * Connects to `localhost:<port>` in the pod (127.0.0.1, then ::1).
   *
   * @throws {Error} With the reason (refused, cannot enter the namespace).
   */
  connect(port: number): Promise<PortConnection>;
  /** Closes every connection and frees the dialer. */
  close(): Promise<void>;
}

/** Bytes written to a pod connection and not yet taken by its socket, above which `write` waits. */
export const POD_WRITE_WINDOW = 256 * 1024;

/** Bytes read from the pod and not yet taken by the session, above which reading stops. */
export const POD_READ_WINDOW = 256 * 1024;

/** A queue of chunks read by one async iterator, counting the bytes it holds. */
class Inbox {
  #queue: Uint8Array[] = [];
  #ended = false;
  #waiter: (() => void) | undefined;
  #bytes = 0;
  #roomWaiters: (() => void)[] = [];
  #onTake: (bytes: number) => void;

  /** @param onTake Told how many bytes the reader took. */
  constructor(onTake: (bytes: number) => void = () => {}) {
    this.#onTake = onTake;
  }

  push(chunk: Uint8Array): void {
    if (this.#ended) return;
    this.#queue.push(chunk);
    this.#bytes += chunk.length;
    this.#wake();
  }

  /** No more chunks come; those queued are still read. */
  end(): void {
    this.#ended = true;
    this.#wake();
    this.#release();
  }

  /** Ends and drops what is queued: the connection is closed. */
  abort(): void {
    this.#queue = [];
    this.#bytes = 0;
    this.end();
  }

  /** Resolves once fewer than {@linkcode POD_READ_WINDOW} bytes wait, or the inbox ended. */
  room(): Promise<void> {
    if (this.#ended || this.#bytes < POD_READ_WINDOW) return Promise.resolve();
    return new Promise((r) => this.#roomWaiters.push(r));
  }

  #release(): void {
    const ws = this.#roomWaiters;
    this.#roomWaiters = [];
    for (const w of ws) w();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async *iterate(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const c = this.#queue.shift();
      if (c) {
        this.#bytes -= c.length;
        this.#onTake(c.length);
        if (this.#bytes < POD_READ_WINDOW) this.#release();
        yield c;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((r) => this.#waiter = r);
    }
  }
}

/** Bytes on their way to a pod's socket; {@linkcode add} waits while too many are. */
class WriteWindow {
  #inFlight = 0;
  #closed = false;
  #waiters: (() => void)[] = [];

  /** Counts `bytes` as sent; resolves once at most {@linkcode POD_WRITE_WINDOW} are in flight. */
  add(bytes: number): Promise<void> {
    this.#inFlight += bytes;
    if (this.#closed || this.#inFlight <= POD_WRITE_WINDOW) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  /** Counts `bytes` as written (or dropped). */
  done(bytes: number): void {
    this.#inFlight -= bytes;
    if (this.#inFlight <= POD_WRITE_WINDOW) this.#release();
  }

  /** Releases every waiter, now and later: the connection is gone. */
  close(): void {
    this.#closed = true;
    this.#release();
  }

  #release(): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }
}

/**
 * A dialer for the network namespace mounted at `netnsPath`. The worker starts on the first
 * connect. Flow control with the worker: it reports each write it finished (`written`) and
 * stops reading a pod connection while {@linkcode POD_READ_WINDOW} bytes it sent are not
 * acknowledged (`ack`, sent as the session takes them).
 */
export function createNetnsDialer(netnsPath: string): PortDialer {
  let worker: Worker | undefined;
  let ready: Promise<void> | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const inboxes = new Map<number, Inbox>();
  const windows = new Map<number, WriteWindow>();
  let dead: Error | undefined;

  const endAll = () => {
    for (const p of pending.values()) p.reject(dead!);
    pending.clear();
    for (const i of inboxes.values()) i.abort();
    inboxes.clear();
    for (const w of windows.values()) w.close();
    windows.clear();
  };

  const start = () => {
    worker = new Worker(new URL("./port_forward_worker.ts", import.meta.url), {
      workerData: { netnsPath },
    });
    ready = new Promise<void>((resolve, reject) => {
      worker!.on("message", (ev: DialerEvent) => {
        switch (ev.type) {
          case "ready":
            resolve();
            return;
          case "unavailable":
            dead = new Error(`Cannot enter the network namespace of the pod: ${ev.detail}`);
            reject(dead);
            return;
          case "connected":
            pending.get(ev.id)?.resolve();
            pending.delete(ev.id);
            return;
          case "failed":
            pending.get(ev.id)?.reject(new Error(ev.detail));
            pending.delete(ev.id);
            return;
          case "data":
            inboxes.get(ev.id)?.push(ev.data);
            return;
          case "written":
            windows.get(ev.id)?.done(ev.bytes);
            return;
          case "end":
            inboxes.get(ev.id)?.end();
            return;
        }
      });
      worker!.on("error", (err: Error) => {
        dead = new Error(`The port-forward worker failed: ${err.message}`, { cause: err });
        reject(dead);
        endAll();
      });
      worker!.on("exit", () => {
        dead ??= new Error("The port-forward worker exited");
        reject(dead);
        endAll();
      });
    });
    ready.catch(() => {});
  };

  const send = (req: DialerRequest) => {
    if (!dead) worker?.postMessage(req);
  };

  return {
    async connect(port) {
      if (!worker) start();
      await ready;
      if (dead) throw dead;
      const id = nextId++;
      const inbox = new Inbox((bytes) => send({ type: "ack", id, bytes }));
      const window = new WriteWindow();
      inboxes.set(id, inbox);
      windows.set(id, window);
      try {
        await new Promise<void>((resolve, reject) => {
          pending.set(id, { resolve, reject });
          send({ type: "connect", id, port });
        });
      } catch (err) {
        inboxes.delete(id);
        windows.delete(id);
        throw err;
      }
      return {
        write: (data) => {
          if (dead || !windows.has(id)) return Promise.resolve();
          send({ type: "data", id, data });
          return window.add(data.length);
        },
        closeWrite: () => send({ type: "closeWrite", id }),
        close: () => {
          send({ type: "close", id });
          inbox.abort();
          window.close();
          inboxes.delete(id);
          windows.delete(id);
        },
        [Symbol.asyncIterator]: () => inbox.iterate(),
      };
    },
    async close() {
      dead ??= new Error("The port-forward session is closed");
      endAll();
      if (worker) await worker.terminate();
      worker = undefined;
    },
  };
}

/** A dialer for a pod on the host network: plain connections from ocid's own namespace. */
export function createHostDialer(): PortDialer {
  const open = new Map<Deno.TcpConn, { inbox: Inbox; window: WriteWindow }>();
  return {
    async connect(port) {
      const conn = await connectLoopback(port);
      const inbox = new Inbox();
      const window = new WriteWindow();
      open.set(conn, { inbox, window });
      void (async () => {
        const buf = new Uint8Array(32 * 1024);
        try {
          for (;;) {
            await inbox.room();
            if (!open.has(conn)) break;
            const n = await conn.read(buf);
            if (n === null) break;
            inbox.push(buf.slice(0, n));
          }
        } catch { /* closed */ }
        inbox.end();
      })();
      let writes: Promise<unknown> = Promise.resolve();
      const done = () => {
        open.delete(conn);
        try {
          conn.close();
        } catch { /* closed */ }
        inbox.abort();
        window.close();
      };
      return {
        write(data) {
          writes = writes.then(async () => {
            let at = 0;
            while (at < data.length) at += await conn.write(data.subarray(at));
          }).catch(() => {}).finally(() => window.done(data.length));
          return window.add(data.length);
        },
        closeWrite() {
          writes = writes.then(() => conn.closeWrite()).catch(() => {});
        },
        close: done,
        [Symbol.asyncIterator]: () => inbox.iterate(),
      };
    },
    close() {
      for (const [conn, { inbox, window }] of open) {
        try {
          conn.close();
        } catch { /* closed */ }
        inbox.abort();
        window.close();
      }
      open.clear();
      return Promise.resolve();
    },
  };
}
