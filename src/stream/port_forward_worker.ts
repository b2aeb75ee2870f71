/**
 * The port-forward worker: a module worker (`node:worker_threads`, an OS thread of its own)
 * that moves its thread into one pod's network namespace with `setns(2)` and then connects
 * to `localhost:<port>` there (127.0.0.1, then ::1): a socket belongs to the namespace of the
 * thread that creates it. It relays bytes for any number of connections of one port-forward
 * session, and is terminated with it; the thread never leaves the namespace, so it never runs
 * anything else.
 * Flow control: each finished write is reported (`written`), and a connection is not read
 * while 256 KiB it sent are not acknowledged (`ack`).
 *
 * `workerData`: `{ netnsPath }`. Messages in: {@linkcode DialerRequest}. Out:
 * {@linkcode DialerEvent}.
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { enterNetns, openNsLibc } from "../sys/libc_ns.ts";
import { connectLoopback } from "./loopback.ts";

/** What the session asks of the worker. */
export type DialerRequest =
  | { type: "connect"; id: number; port: number }
  | { type: "data"; id: number; data: Uint8Array }
  /** The session took `bytes` of what the worker sent for `id`. */
  | { type: "ack"; id: number; bytes: number }
  | { type: "closeWrite"; id: number }
  | { type: "close"; id: number };

/** What the worker reports. */
export type DialerEvent =
  | { type: "ready" }
  | { type: "unavailable"; detail: string }
  | { type: "connected"; id: number }
  | { type: "failed"; id: number; detail: string }
  | { type: "data"; id: number; data: Uint8Array }
  /** `bytes` sent with one `data` request were written to the pod (or dropped). */
  | { type: "written"; id: number; bytes: number }
  | { type: "end"; id: number };

/** Bytes sent to the session and not acknowledged, above which a connection is not read. */
const READ_WINDOW = 256 * 1024;

/** One connection in the pod. */
interface Conn {
  conn: Deno.TcpConn;
  writes: Promise<unknown>;
  /** Bytes posted to the session that it has not taken yet. */
  unacked: number;
  /** Wakes the reader paused on a full window. */
  wake: (() => void) | undefined;
}

function serve(port: NonNullable<typeof parentPort>, netnsPath: string): void {
  const post = (event: DialerEvent) => port.postMessage(event);
  let failure: string | undefined;
  try {
    failure = enterNetns(openNsLibc(), netnsPath);
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  if (failure !== undefined) {
    post({ type: "unavailable", detail: failure });
    return;
  }
  const conns = new Map<number, Conn>();
  const pump = async (id: number, c: Conn) => {
    const buf = new Uint8Array(32 * 1024);
    try {
      for (;;) {
        while (c.unacked >= READ_WINDOW && conns.get(id) === c) {
          await new Promise<void>((r) => c.wake = r);
        }
        if (conns.get(id) !== c) break;
        const n = await c.conn.read(buf);
        if (n === null) break;
        c.unacked += n;
        post({ type: "data", id, data: buf.slice(0, n) });
      }
    } catch { /* closed */ }
    post({ type: "end", id });
  };
  port.on("message", async (req: DialerRequest) => {
    switch (req.type) {
      case "connect":
        try {
          const conn = await connectLoopback(req.port);
          const c: Conn = { conn, writes: Promise.resolve(), unacked: 0, wake: undefined };
          conns.set(req.id, c);
          post({ type: "connected", id: req.id });
          void pump(req.id, c);
        } catch (err) {
          post({
            type: "failed",
            id: req.id,
            detail: err instanceof Error ? err.message : String(err),
          });
        }
        return;
      case "data": {
        const c = conns.get(req.id);
        const written = () => post({ type: "written", id: req.id, bytes: req.data.length });
        if (!c) return written();
        c.writes = c.writes.then(async () => {
          let at = 0;
          while (at < req.data.length) at += await c.conn.write(req.data.subarray(at));
        }).catch(() => {}).finally(written);
        return;
      }
      case "ack": {
        const c = conns.get(req.id);
        if (!c) return;
        c.unacked -= req.bytes;
        if (c.unacked < READ_WINDOW) {
          const w = c.wake;
          c.wake = undefined;
          w?.();
        }
        return;
      }
      case "closeWrite": {
        const c = conns.get(req.id);
        if (c) c.writes = c.writes.then(() => c.conn.closeWrite()).catch(() => {});
        return;
      }
      case "close": {
        const c = conns.get(req.id);
        conns.delete(req.id);
        if (c) {
          const w = c.wake;
          c.wake = undefined;
          w?.();
          try {
            c.conn.close();
          } catch { /* closed */ }
        }
        return;
      }
    }
  });
  post({ type: "ready" });
}

if (parentPort) serve(parentPort, (workerData as { netnsPath: string }).netnsPath);
