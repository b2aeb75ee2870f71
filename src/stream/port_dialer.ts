/**
 * Connections to `127.0.0.1:<port>` inside a pod's network namespace, for port-forward.
 * {@linkcode createNetnsDialer} runs a worker thread that enters the namespace with setns(2)
 * (`port_forward_worker.ts`); a pod on the host network is dialed directly.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { DialerEvent, DialerRequest } from "./port_forward_worker.ts";

/** One TCP connection in the pod. */
export interface PortConnection {
  /** Queues bytes for the pod's server. */
  write(data: Uint8Array): void;
  /** Half-closes our side (the client sent FIN). */
  closeWrite(): void;
  /** Closes the connection. */
  close(): void;
  /** What the pod's server sends, until it closes its side. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
}

/** Opens connections in one pod. */
export interface PortDialer {
  /**
   * Connects to `127.0.0.1:<port>` in the pod.
   *
   * @throws {Error} With the reason (refused, cannot enter the namespace).
   */
  connect(port: number): Promise<PortConnection>;
  /** Closes every connection and frees the dialer. */
  close(): Promise<void>;
}

/** A queue of chunks read by one async iterator. */
class Inbox {
  #queue: Uint8Array[] = [];
  #ended = false;
  #waiter: (() => void) | undefined;

  push(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#wake();
  }

  end(): void {
    this.#ended = true;
    this.#wake();
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
        yield c;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((r) => this.#waiter = r);
    }
  }
}

/**
 * A dialer for the network namespace mounted at `netnsPath`. The worker starts on the first
 * connect.
 */
export function createNetnsDialer(netnsPath: string): PortDialer {
  let worker: Worker | undefined;
  let ready: Promise<void> | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const inboxes = new Map<number, Inbox>();
  let dead: Error | undefined;

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
          case "end":
            inboxes.get(ev.id)?.end();
            return;
        }
      });
      worker!.on("error", (err: Error) => {
        dead = new Error(`The port-forward worker failed: ${err.message}`, { cause: err });
        reject(dead);
        for (const p of pending.values()) p.reject(dead);
        pending.clear();
        for (const i of inboxes.values()) i.end();
      });
      worker!.on("exit", () => {
        dead ??= new Error("The port-forward worker exited");
        reject(dead);
        for (const p of pending.values()) p.reject(dead);
        pending.clear();
        for (const i of inboxes.values()) i.end();
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
      const inbox = new Inbox();
      inboxes.set(id, inbox);
      try {
        await new Promise<void>((resolve, reject) => {
          pending.set(id, { resolve, reject });
          send({ type: "connect", id, port });
        });
      } catch (err) {
        inboxes.delete(id);
        throw err;
      }
      return {
        write: (data) => send({ type: "data", id, data }),
        closeWrite: () => send({ type: "closeWrite", id }),
        close: () => {
          send({ type: "close", id });
          inbox.end();
          inboxes.delete(id);
        },
        [Symbol.asyncIterator]: () => inbox.iterate(),
      };
    },
    async close() {
      for (const i of inboxes.values()) i.end();
      inboxes.clear();
      if (worker) await worker.terminate();
      worker = undefined;
    },
  };
}

/** A dialer for a pod on the host network: plain connections from ocid's own namespace. */
export function createHostDialer(): PortDialer {
  const open = new Set<Deno.TcpConn>();
  return {
    async connect(port) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      open.add(conn);
      const inbox = new Inbox();
      void (async () => {
        const buf = new Uint8Array(32 * 1024);
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            inbox.push(buf.slice(0, n));
          }
        } catch { /* closed */ }
        inbox.end();
      })();
      let writes: Promise<unknown> = Promise.resolve();
      return {
        write(data) {
          writes = writes.then(async () => {
            let at = 0;
            while (at < data.length) at += await conn.write(data.subarray(at));
          }).catch(() => {});
        },
        closeWrite() {
          writes = writes.then(() => conn.closeWrite()).catch(() => {});
        },
        close() {
          open.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
          inbox.end();
        },
        [Symbol.asyncIterator]: () => inbox.iterate(),
      };
    },
    close() {
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      open.clear();
      return Promise.resolve();
    },
  };
}
