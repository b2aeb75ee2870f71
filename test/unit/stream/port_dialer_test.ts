/**
 * The host-network port dialer against a real TCP server on loopback (no root): bytes reach
 * the reader in order, and neither direction buffers without bound when the other end stalls.
 */
import assert from "node:assert/strict";
import { createHostDialer, POD_WRITE_WINDOW } from "../../../src/stream/port_dialer.ts";

const BOUND_MS = 15_000;

/** Waits for a condition, failing with `what` after a bound. */
async function eventually(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`Gave up waiting ${BOUND_MS} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves true when `p` settles first, false after `ms`. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((r) => timer = setTimeout(() => r(false), ms)),
  ]).finally(() => clearTimeout(timer));
}

/** A loopback "pod" server that accepts one connection and runs `serve` on it. */
async function withPod(
  serve: (conn: Deno.TcpConn) => Promise<void>,
  fn: (port: number) => Promise<void>,
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted: Deno.TcpConn | undefined;
  const served = (async () => {
    accepted = await listener.accept() as Deno.TcpConn;
    try {
      await serve(accepted);
    } catch { /* the dialer closed */ }
  })();
  try {
    await fn(listener.addr.port);
  } finally {
    try {
      accepted?.close();
    } catch { /* closed by serve */ }
    listener.close();
    await served.catch(() => {});
  }
}

Deno.test("createHostDialer() relays bytes in order, then the pod's end", async () => {
  await withPod(async (conn) => {
    const buf = new Uint8Array(5);
    let got = 0;
    while (got < 5) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
    await conn.write(buf.subarray(0, got));
    await conn.write(new TextEncoder().encode(" world"));
    conn.close();
  }, async (port) => {
    const dialer = createHostDialer();
    const conn = await dialer.connect(port);
    await conn.write(new TextEncoder().encode("hello"));
    let text = "";
    for await (const chunk of conn) text += new TextDecoder().decode(chunk);
    assert.equal(text, "hello world");
    conn.close();
    await dialer.close();
  });
});

Deno.test("createHostDialer() write() waits while the pod does not read", async () => {
  let release!: () => void;
  const released = new Promise<void>((r) => release = r);
  await withPod(() => released, async (port) => {
    const dialer = createHostDialer();
    const conn = await dialer.connect(port);
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    let stuck: Promise<void> | undefined;
    while (!stuck) {
      assert.ok(sent < 64 * 1024 * 1024, "write() took 64 MiB for a pod that reads nothing");
      const w = conn.write(chunk);
      sent += chunk.length;
      if (!await settlesWithin(w, 500)) stuck = w;
    }
    assert.ok(sent > POD_WRITE_WINDOW, `write() waited after only ${sent} bytes`);
    conn.close();
    assert.ok(await settlesWithin(stuck, BOUND_MS), "a waiting write() ends with close()");
    await dialer.close();
    release();
  });
});

Deno.test("createHostDialer() stops reading a pod whose bytes are not taken", async () => {
  let written = 0;
  await withPod(async (conn) => {
    const chunk = new Uint8Array(64 * 1024).fill(0x70);
    while (written < 64 * 1024 * 1024) {
      await conn.write(chunk);
      written += chunk.length;
    }
  }, async (port) => {
    const dialer = createHostDialer();
    const conn = await dialer.connect(port);
    let last = -1;
    let still = 0;
    await eventually(() => {
      if (written === last && last > 0) still++;
      else still = 0;
      last = written;
      return still >= 20 || last >= 64 * 1024 * 1024;
    }, "the pod's writes to stall or reach 64 MiB");
    assert.ok(written < 32 * 1024 * 1024, `the dialer read ${written} bytes nobody took`);
    // Taking bytes lets the pod go on.
    const before = written;
    const it = conn[Symbol.asyncIterator]();
    let taken = 0;
    while (taken < 4 * 1024 * 1024) {
      const r = await it.next();
      assert.ok(!r.done, "the connection ended early");
      taken += r.value.length;
    }
    await eventually(() => written > before, "the pod to write again");
    await it.return?.();
    conn.close();
    await dialer.close();
  });
});
