import assert from "node:assert/strict";
import { join } from "node:path";
import { PollFd } from "../../../src/sys/poll_fd.ts";
import { SeqpacketConn } from "../../../src/sys/seqpacket.ts";

/** The libc calls these tests use to make and drive the other end of a socket. */
const libc = Deno.dlopen("libc.so.6", {
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept: { parameters: ["i32", "pointer", "pointer"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "u64", "i32"], result: "i64" },
  send: { parameters: ["i32", "buffer", "u64", "i32"], result: "i64" },
  close: { parameters: ["i32"], result: "i32" },
}).symbols;

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const enc = new TextEncoder();
const dec = new TextDecoder();

function fdCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

/** A SOCK_SEQPACKET pair: the first end non-blocking (for a PollFd), the second blocking. */
function seqpacketPair(): [number, number] {
  const fds = new Int32Array(2);
  assert.equal(libc.socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  setNonBlocking(fds[0]!);
  return [fds[0]!, fds[1]!];
}

const fcntl = Deno.dlopen("libc.so.6", {
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
}).symbols;

function setNonBlocking(fd: number): void {
  const F_GETFL = 3;
  const F_SETFL = 4;
  const flags = fcntl.fcntl(fd, F_GETFL, 0);
  assert.ok(flags >= 0);
  assert.equal(fcntl.fcntl(fd, F_SETFL, flags | SOCK_NONBLOCK), 0);
}

function wrap(fd: number): PollFd {
  return PollFd.wrap(fd, {
    read: (fd, buf) => Number(libc.recv(fd, buf, BigInt(buf.length), 0)),
    write: (fd, bytes) => Number(libc.send(fd, bytes, BigInt(bytes.length), 0)),
  }, { name: "test socket" });
}

function sendPeer(fd: number, text: string): void {
  const bytes = enc.encode(text);
  assert.equal(Number(libc.send(fd, bytes, BigInt(bytes.length), 0)), bytes.length);
}

function recvPeer(fd: number): string {
  const buf = new Uint8Array(1024);
  const n = Number(libc.recv(fd, buf, BigInt(buf.length), 0));
  assert.ok(n >= 0, "recv on the peer failed");
  return dec.decode(buf.subarray(0, n));
}

Deno.test("PollFd.read() waits for data, then gives null when the peer closes", async () => {
  const before = fdCount();
  const [fd, peer] = seqpacketPair();
  const io = wrap(fd);
  try {
    const first = io.read(64);
    // The read is waiting in poll(2); the peer's packet wakes it.
    setTimeout(() => sendPeer(peer, "one"), 20);
    assert.equal(dec.decode((await first)!), "one");
    sendPeer(peer, "two");
    assert.equal(dec.decode((await io.read(64))!), "two");
    await io.write(enc.encode("back"));
    assert.equal(recvPeer(peer), "back");
    libc.close(peer);
    assert.equal(await io.read(64), null);
  } finally {
    await io.close();
  }
  assert.equal(io.closed, true);
  assert.equal(fdCount(), before, "the fd and its eventfd are closed");
});

Deno.test("PollFd.close() ends a pending read and a blocked write and closes both fds", async () => {
  const before = fdCount();
  const [fd, peer] = seqpacketPair();
  try {
    const io = wrap(fd);
    const pendingRead = io.read(64);
    // Nobody receives on the peer: fill its queue, so that the next write waits in poll(2).
    const big = new Uint8Array(64 * 1024);
    while (Number(libc.send(fd, big, BigInt(big.length), 0)) > 0) { /* fill */ }
    const pendingWrites = io.write(big);
    const writeFailed = pendingWrites.then(() => "resolved", (e: Error) => e.message);
    await io.close();
    assert.equal(await pendingRead, null);
    assert.equal(await writeFailed, "Cannot write to a closed test socket");
    assert.equal(await io.read(64), null);
    await io.close();
  } finally {
    libc.close(peer);
  }
  assert.equal(fdCount(), before);
});

Deno.test("PollFd.read() throws with errno on a read error", async () => {
  const [fd, peer] = seqpacketPair();
  // A read that fails the way close(-1) does: EBADF (9).
  const fail = () => libc.close(-1);
  const io = PollFd.wrap(fd, { read: fail, write: fail }, { name: "fake" });
  try {
    await assert.rejects(io.read(8), /^Error: Cannot read the fake: .* \(errno 9\)$/);
  } finally {
    await io.close();
    libc.close(peer);
  }
});

Deno.test("SeqpacketConn sends and receives packets through a listening socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-seqpacket-" });
  const path = join(dir, "attach");
  const listener = libc.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  let peer = -1;
  const before = fdCount();
  try {
    assert.ok(listener >= 0);
    const addr = new Uint8Array(110);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(enc.encode(path), 2);
    assert.equal(libc.bind(listener, addr, addr.length), 0);
    assert.equal(libc.listen(listener, 1), 0);
    const conn = SeqpacketConn.connect(path);
    try {
      peer = libc.accept(listener, null, null);
      assert.ok(peer >= 0);
      await conn.write(enc.encode("hello"));
      await conn.write(enc.encode("world"));
      assert.equal(recvPeer(peer), "hello", "one packet each write");
      assert.equal(recvPeer(peer), "world");
      sendPeer(peer, "out");
      assert.equal(dec.decode((await conn.read())!), "out");
      conn.closeWrite();
      assert.equal(recvPeer(peer), "", "the peer reads the end");
      libc.close(peer);
      peer = -1;
      assert.equal(await conn.read(), null);
    } finally {
      await conn.close();
    }
    assert.equal(fdCount(), before, "the socket and its eventfd are closed");
  } finally {
    if (peer >= 0) libc.close(peer);
    libc.close(listener);
    await Deno.remove(dir, { recursive: true });
  }
});
