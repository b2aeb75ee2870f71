/**
 * A client of a unix `SOCK_SEQPACKET` socket (conmon's attach socket) through Deno's FFI,
 * which Deno's own sockets do not offer. Long paths are reached through the parent
 * directory's `/proc/self/fd/<n>` entry (an `O_PATH` fd), as conmon binds them.
 *
 * Like {@linkcode PtyMaster}: the socket is non-blocking, `recv`/`send` are synchronous FFI
 * calls, and waiting happens in `poll(2)` through a `nonblocking` FFI symbol together with an
 * `eventfd` that {@linkcode SeqpacketConn.close} signals.
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { readErrno, strerrorOf } from "./libc.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32", nonblocking: false },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32", nonblocking: false },
  recv: { parameters: ["i32", "buffer", "u64", "i32"], result: "i64", nonblocking: false },
  send: { parameters: ["i32", "buffer", "u64", "i32"], result: "i64", nonblocking: false },
  shutdown: { parameters: ["i32", "i32"], result: "i32", nonblocking: false },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: false },
  eventfd: { parameters: ["u32", "i32"], result: "i32", nonblocking: false },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
  strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const SHUT_WR = 1;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const EAGAIN = 11;
const EINTR = 4;
const EINPROGRESS = 115;

let loaded: Symbols | undefined;

function symbols(): Symbols {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return loaded;
}

/** A connected `SOCK_SEQPACKET` socket. */
export class SeqpacketConn {
  #sym: Symbols;
  #fd: number;
  #cancel: number;
  #polls = new Set<Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(sym: Symbols, fd: number, cancel: number) {
    this.#sym = sym;
    this.#fd = fd;
    this.#cancel = cancel;
  }

  /**
   * Connects to the socket at `path`.
   *
   * @throws {Error} When FFI is not permitted or the connection fails (with `errno`).
   */
  static connect(path: string): SeqpacketConn {
    const sym = symbols();
    const enc = new TextEncoder();
    const dir = sym.open(enc.encode(dirname(path) + "\0"), O_PATH | O_CLOEXEC);
    if (dir < 0) throw failure(sym, `Cannot open the directory of socket "${path}"`);
    let fd = -1;
    try {
      const name = enc.encode(`/proc/self/fd/${dir}/${basename(path)}`);
      // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
      const addr = new Uint8Array(110);
      new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
      if (name.length > 107) throw new Error(`Socket name "${basename(path)}" is too long`);
      addr.set(name, 2);
      fd = sym.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) throw failure(sym, "Cannot create a SOCK_SEQPACKET socket");
      if (sym.connect(fd, addr, addr.length) < 0) {
        const errno = readErrno(sym);
        // A unix socket connects at once or not at all, but be safe.
        if (errno !== EINPROGRESS) throw failure(sym, `Cannot connect to "${path}"`, errno);
      }
      const cancel = sym.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (cancel < 0) throw failure(sym, "Cannot create an eventfd for the socket");
      const conn = new SeqpacketConn(sym, fd, cancel);
      fd = -1;
      return conn;
    } finally {
      if (fd >= 0) sym.close(fd);
      sym.close(dir);
    }
  }

  /**
   * Receives one packet.
   *
   * @returns The packet, or null at the end (the peer closed, or closed here).
   * @throws {Error} On a receive error.
   */
  async read(max = 32_768): Promise<Uint8Array | null> {
    const buf = new Uint8Array(max);
    for (;;) {
      if (this.#closed) return null;
      const n = Number(this.#sym.recv(this.#fd, buf, BigInt(buf.length), 0));
      if (n > 0) return buf.slice(0, n);
      if (n === 0) return null;
      const errno = readErrno(this.#sym);
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw failure(this.#sym, "Cannot receive from the socket", errno);
      await this.#wait(POLLIN);
    }
  }

  /**
   * Sends `bytes` as one packet.
   *
   * @throws {Error} When closed meanwhile, or on a send error.
   */
  async write(bytes: Uint8Array): Promise<void> {
    for (;;) {
      if (this.#closed) throw new Error("Cannot write to a closed socket");
      const n = Number(this.#sym.send(this.#fd, bytes, BigInt(bytes.length), MSG_NOSIGNAL));
      if (n >= 0) return;
      const errno = readErrno(this.#sym);
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw failure(this.#sym, "Cannot send to the socket", errno);
      await this.#wait(POLLOUT);
    }
  }

  /** Ends our direction (`shutdown(SHUT_WR)`): the peer reads the end. */
  closeWrite(): void {
    if (!this.#closed) this.#sym.shutdown(this.#fd, SHUT_WR);
  }

  /** Ends pending reads and writes, then closes the socket once no poll uses it. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      this.#sym.write(this.#cancel, new BigUint64Array([1n]), 8n);
      await Promise.allSettled([...this.#polls]);
      this.#sym.close(this.#fd);
      this.#sym.close(this.#cancel);
    })();
    return this.#closing;
  }

  async #wait(events: number): Promise<void> {
    if (this.#closed) return;
    const fds = new Int32Array(4);
    const shorts = new Int16Array(fds.buffer);
    fds[0] = this.#fd;
    shorts[2] = events;
    fds[2] = this.#cancel;
    shorts[6] = POLLIN;
    const poll = this.#sym.poll(fds, 2n, -1);
    this.#polls.add(poll);
    try {
      await poll;
    } finally {
      this.#polls.delete(poll);
    }
  }
}

function failure(sym: Symbols, what: string, errno = readErrno(sym)): Error {
  return new Error(`${what}: ${strerrorOf(sym, errno)} (errno ${errno})`);
}
