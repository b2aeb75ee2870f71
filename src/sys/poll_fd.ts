/**
 * A non-blocking fd read and written through Deno's FFI without blocking the JS thread: the
 * one way of waiting that {@linkcode PtyMaster} and {@linkcode SeqpacketConn} share. Needs
 * `--allow-ffi` (part of `-A`) and a glibc `libc.so.6`.
 *
 * The fd is `O_NONBLOCK`, so its read and write calls (`read(2)`, `recv(2)`, ...: given by the
 * owner as {@linkcode PollFdIo}) are synchronous FFI calls that never wait (`errno` read right
 * after is theirs). When one answers `EAGAIN`, {@linkcode PollFd} waits in `poll(2)` through a
 * `nonblocking` FFI symbol (Deno runs it on a thread of its blocking pool and resolves a
 * promise), polling the fd together with an `eventfd` that {@linkcode PollFd.close} signals.
 * So a wait ends on readiness, on hang-up, or on close; both fds are closed only after every
 * poll returned, so no thread ever polls an fd number that was closed and reused.
 *
 * @module
 */
import { errnoError, readErrno } from "./libc.ts";

const SYMBOLS = {
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: false },
  eventfd: { parameters: ["u32", "i32"], result: "i32", nonblocking: false },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
  strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
} as const;

type PollSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const EAGAIN = 11;
const EINTR = 4;

let loaded: PollSymbols | undefined;

function symbols(): PollSymbols {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return loaded;
}

/**
 * The owner's synchronous calls on the fd. Each returns the byte count, or a negative number
 * with `errno` set (read by {@linkcode PollFd} right after, on the same thread).
 */
export interface PollFdIo {
  /** One `read(2)` or `recv(2)` into `buf`. */
  read(fd: number, buf: Uint8Array): number;
  /** One `write(2)` or `send(2)` of `bytes`. */
  write(fd: number, bytes: Uint8Array): number;
}

/** Options of {@linkcode PollFd.wrap}. */
export interface PollFdOptions {
  /** What the fd is, for messages: `terminal`, `socket`. */
  name: string;
  /** `errno` values a read takes as the end, like `EIO` on a terminal master. @default [] */
  endErrnos?: readonly number[];
}

/** A non-blocking fd with reads and writes that wait in `poll(2)`, and a close that wakes them. */
export class PollFd {
  #sym: PollSymbols;
  #fd: number;
  #cancel: number;
  #io: PollFdIo;
  #name: string;
  #endErrnos: readonly number[];
  #polls = new Set<Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(
    sym: PollSymbols,
    fd: number,
    cancel: number,
    io: PollFdIo,
    options: PollFdOptions,
  ) {
    this.#sym = sym;
    this.#fd = fd;
    this.#cancel = cancel;
    this.#io = io;
    this.#name = options.name;
    this.#endErrnos = options.endErrnos ?? [];
  }

  /**
   * Takes over `fd` (already `O_NONBLOCK`): {@linkcode PollFd.close} closes it.
   *
   * @param fd The open, non-blocking fd.
   * @param io The owner's read and write calls on it.
   * @param options Its name for messages, and which `errno` values end a read.
   * @throws {Error} When FFI is not permitted or the `eventfd` cannot be created; `fd` is then
   * left open for the caller to close.
   */
  static wrap(fd: number, io: PollFdIo, options: PollFdOptions): PollFd {
    const sym = symbols();
    const cancel = sym.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cancel < 0) throw errnoError(sym, `Cannot create an eventfd for the ${options.name}`);
    return new PollFd(sym, fd, cancel, io, options);
  }

  /** The fd number. */
  get fd(): number {
    return this.#fd;
  }

  /** Whether {@linkcode PollFd.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads once, waiting for data without blocking the JS thread.
   *
   * @param max The most bytes to return.
   * @returns The bytes, or null at the end: a read of 0, an `errno` of `endErrnos`, or closed
   * here.
   * @throws {Error} On another read error.
   */
  async read(max: number): Promise<Uint8Array | null> {
    const buf = new Uint8Array(max);
    for (;;) {
      if (this.#closed) return null;
      const n = this.#io.read(this.#fd, buf);
      if (n > 0) return buf.slice(0, n);
      if (n === 0) return null;
      const errno = readErrno(this.#sym);
      if (this.#endErrnos.includes(errno)) return null;
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw errnoError(this.#sym, `Cannot read the ${this.#name}`, errno);
      await this.#wait(POLLIN);
    }
  }

  /**
   * Writes all of `bytes` (a write that takes part of them is followed by one for the rest),
   * waiting while the fd is not ready. An empty `bytes` is written once (an empty packet on a
   * `SOCK_SEQPACKET` socket).
   *
   * @throws {Error} When closed meanwhile, or on a write error.
   */
  async write(bytes: Uint8Array): Promise<void> {
    let rest = bytes;
    for (;;) {
      if (this.#closed) throw new Error(`Cannot write to a closed ${this.#name}`);
      const n = this.#io.write(this.#fd, rest);
      if (n >= 0) {
        // A whole packet (SOCK_SEQPACKET), a part of a byte stream, or 0 bytes: no progress,
        // so stop rather than spin.
        rest = rest.subarray(n);
        if (rest.length === 0 || n === 0) return;
        continue;
      }
      const errno = readErrno(this.#sym);
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw errnoError(this.#sym, `Cannot write to the ${this.#name}`, errno);
      await this.#wait(POLLOUT);
    }
  }

  /**
   * Ends pending reads and writes (reads give null, writes throw), then closes the fd and the
   * eventfd once no poll uses them. Idempotent.
   */
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

  /** Waits until the fd is ready for `events`, hangs up, or close() is called. */
  async #wait(events: number): Promise<void> {
    if (this.#closed) return;
    // struct pollfd { int fd; short events; short revents; } x 2
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
