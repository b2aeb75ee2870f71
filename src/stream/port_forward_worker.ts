/**
 * The port-forward worker: a module worker (`node:worker_threads`, an OS thread of its own)
 * that moves its thread into one pod's network namespace with `setns(2)` and then connects
 * to `127.0.0.1:<port>` there: a socket belongs to the namespace of the thread that creates
 * it. It relays bytes for any number of connections of one port-forward session, and is
 * terminated with it; the thread never leaves the namespace, so it never runs anything else.
 *
 * `workerData`: `{ netnsPath }`. Messages in: {@linkcode DialerRequest}. Out:
 * {@linkcode DialerEvent}.
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { CLONE_NEWNET, O_CLOEXEC } from "../sys/libc_netns.ts";
import { readErrno, strerrorOf } from "../sys/libc.ts";

/** What the session asks of the worker. */
export type DialerRequest =
  | { type: "connect"; id: number; port: number }
  | { type: "data"; id: number; data: Uint8Array }
  | { type: "closeWrite"; id: number }
  | { type: "close"; id: number };

/** What the worker reports. */
export type DialerEvent =
  | { type: "ready" }
  | { type: "unavailable"; detail: string }
  | { type: "connected"; id: number }
  | { type: "failed"; id: number; detail: string }
  | { type: "data"; id: number; data: Uint8Array }
  | { type: "end"; id: number };

function enter(netnsPath: string): string | undefined {
  const sym = Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
    close: { parameters: ["i32"], result: "i32", nonblocking: false },
    setns: { parameters: ["i32", "i32"], result: "i32", nonblocking: false },
    __errno_location: { parameters: [], result: "pointer", nonblocking: false },
    strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
  }).symbols;
  const fd = sym.open(new TextEncoder().encode(netnsPath + "\0"), O_CLOEXEC);
  if (fd < 0) return `cannot open "${netnsPath}": ${strerrorOf(sym, readErrno(sym))}`;
  const rc = sym.setns(fd, CLONE_NEWNET);
  const errno = rc === 0 ? 0 : readErrno(sym);
  sym.close(fd);
  if (rc !== 0) return `setns("${netnsPath}") failed: ${strerrorOf(sym, errno)}`;
  const want = Deno.statSync(netnsPath).ino;
  const have = Deno.statSync("/proc/thread-self/ns/net").ino;
  if (want !== have) return `setns("${netnsPath}") did not move the thread`;
  return undefined;
}

function serve(port: NonNullable<typeof parentPort>, netnsPath: string): void {
  const post = (event: DialerEvent) => port.postMessage(event);
  let failure: string | undefined;
  try {
    failure = enter(netnsPath);
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  }
  if (failure !== undefined) {
    post({ type: "unavailable", detail: failure });
    return;
  }
  const conns = new Map<number, { conn: Deno.TcpConn; writes: Promise<unknown> }>();
  const pump = async (id: number, conn: Deno.TcpConn) => {
    const buf = new Uint8Array(32 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        post({ type: "data", id, data: buf.slice(0, n) });
      }
    } catch { /* closed */ }
    post({ type: "end", id });
  };
  port.on("message", async (req: DialerRequest) => {
    switch (req.type) {
      case "connect":
        try {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: req.port });
          conns.set(req.id, { conn, writes: Promise.resolve() });
          post({ type: "connected", id: req.id });
          void pump(req.id, conn);
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
        if (!c) return;
        c.writes = c.writes.then(async () => {
          let at = 0;
          while (at < req.data.length) at += await c.conn.write(req.data.subarray(at));
        }).catch(() => {});
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
