/**
 * Pseudo-terminal masters through Deno's FFI: `open("/dev/ptmx")`, unlock (`TIOCSPTLCK`), the
 * slave's number (`TIOCGPTN`), window size (`TIOCSWINSZ`), and non-blocking `read(2)` and
 * `write(2)`. Needs `--allow-ffi` (part of `-A`) and a glibc `libc.so.6`.
 *
 * How reads avoid blocking the JS thread: the master is opened `O_NONBLOCK`, so `read(2)` and
 * `write(2)` are synchronous FFI calls that never wait (`errno` read right after is theirs).
 * When one answers `EAGAIN`, {@linkcode PtyMaster} waits in `poll(2)` through a `nonblocking`
 * FFI symbol (Deno runs it on a thread of its blocking pool and resolves a promise), polling
 * the master together with an `eventfd` that {@linkcode PtyMaster.close} signals. So a wait
 * ends on data, on hang-up, or on close; the fds are closed only after every poll returned,
 * so no thread ever polls an fd number that was closed and reused.
 *
 * @module
 */
import { readErrno, strerrorOf } from "./libc.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  read: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: false },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: false },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32", nonblocking: false },
  eventfd: { parameters: ["u32", "i32"], result: "i32", nonblocking: false },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32", nonblocking: false },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32", nonblocking: false },
  cfmakeraw: { parameters: ["buffer"], result: "void", nonblocking: false },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
  strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
} as const;

type PtySymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const TIOCSPTLCK = 0x40045431n;
const TIOCGPTN = 0x80045430n;
const TIOCSWINSZ = 0x5414n;
const TIOCGWINSZ = 0x5413n;
/** glibc's `struct termios` is 60 bytes on Linux; room to spare. */
const TERMIOS_SIZE = 128;
const TCSANOW = 0;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const EAGAIN = 11;
const EINTR = 4;
const EIO = 5;

let loaded: PtySymbols | undefined;

function symbols(): PtySymbols {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return loaded;
}

/** A terminal size in character cells. */
export interface WindowSize {
  width: number;
  height: number;
}

/**
 * The master side of a pseudo-terminal, opened non-blocking and close-on-exec. The slave is
 * opened by path ({@linkcode PtyMaster.slavePath}) by whoever runs on it.
 */
export class PtyMaster {
  #sym: PtySymbols;
  #fd: number;
  #cancel: number;
  #polls = new Set<Promise<unknown>>();
  #closed = false;
  #closing: Promise<void> | undefined;
  /** `/dev/pts/<n>`. */
  readonly slavePath: string;

  private constructor(sym: PtySymbols, fd: number, cancel: number, slavePath: string) {
    this.#sym = sym;
    this.#fd = fd;
    this.#cancel = cancel;
    this.slavePath = slavePath;
  }

  /**
   * Opens a new pseudo-terminal and unlocks its slave.
   *
   * @throws {Error} When FFI is not permitted, or `/dev/ptmx` cannot be opened (with `errno`).
   */
  static open(): PtyMaster {
    const sym = symbols();
    const fd = sym.open(
      new TextEncoder().encode("/dev/ptmx\0"),
      O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
    );
    if (fd < 0) throw failure(sym, "Cannot open /dev/ptmx for a terminal");
    const int = new Int32Array(1);
    if (sym.ioctl(fd, TIOCSPTLCK, int) < 0) {
      const err = failure(sym, "Cannot unlock the terminal's slave (TIOCSPTLCK)");
      sym.close(fd);
      throw err;
    }
    if (sym.ioctl(fd, TIOCGPTN, int) < 0) {
      const err = failure(sym, "Cannot get the terminal's number (TIOCGPTN)");
      sym.close(fd);
      throw err;
    }
    const cancel = sym.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cancel < 0) {
      const err = failure(sym, "Cannot create an eventfd for the terminal");
      sym.close(fd);
      throw err;
    }
    return new PtyMaster(sym, fd, cancel, `/dev/pts/${int[0]}`);
  }

  /** The master's fd number (for tests: fd accounting). */
  get fd(): number {
    return this.#fd;
  }

  /** Whether {@linkcode PtyMaster.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sets the window size (`TIOCSWINSZ`); the kernel sends SIGWINCH to the terminal's
   * foreground process group. Ignored once closed.
   *
   * @throws {Error} When the ioctl fails.
   */
  resize(size: WindowSize): void {
    if (this.#closed) return;
    const ws = new Uint16Array([size.height, size.width, 0, 0]);
    if (this.#sym.ioctl(this.#fd, TIOCSWINSZ, ws) < 0) {
      throw failure(this.#sym, `Cannot set the terminal size to ${size.width}x${size.height}`);
    }
  }

  /**
   * Puts the terminal in raw mode (`cfmakeraw`: no echo, no line editing, no newline
   * translation); mode calls on a master apply to its slave.
   *
   * @throws {Error} When `tcgetattr` or `tcsetattr` fails.
   */
  makeRaw(): void {
    const termios = new Uint8Array(TERMIOS_SIZE);
    if (this.#sym.tcgetattr(this.#fd, termios) < 0) {
      throw failure(this.#sym, "Cannot read the terminal's mode");
    }
    this.#sym.cfmakeraw(termios);
    if (this.#sym.tcsetattr(this.#fd, TCSANOW, termios) < 0) {
      throw failure(this.#sym, "Cannot put the terminal in raw mode");
    }
  }

  /** The window size (`TIOCGWINSZ`). */
  size(): WindowSize {
    const ws = new Uint16Array(4);
    if (this.#sym.ioctl(this.#fd, TIOCGWINSZ, ws) < 0) {
      throw failure(this.#sym, "Cannot get the terminal size");
    }
    return { height: ws[0]!, width: ws[1]! };
  }

  /**
   * Reads what the slave side wrote, waiting for it without blocking the JS thread.
   *
   * @param max The most bytes to return. @default 16384
   * @returns The bytes, or null at the end: every slave fd closed (`EIO`), or closed here.
   * @throws {Error} On another read error.
   */
  async read(max = 16_384): Promise<Uint8Array | null> {
    const buf = new Uint8Array(max);
    for (;;) {
      if (this.#closed) return null;
      const n = Number(this.#sym.read(this.#fd, buf, BigInt(buf.length)));
      if (n > 0) return buf.slice(0, n);
      if (n === 0) return null;
      const errno = readErrno(this.#sym);
      if (errno === EIO) return null;
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw failure(this.#sym, "Cannot read the terminal", errno);
      await this.#wait(POLLIN);
    }
  }

  /**
   * Writes all of `bytes` to the master (the slave's input), waiting while the terminal's
   * buffer is full.
   *
   * @throws {Error} When closed meanwhile, or on a write error (`EIO`: the slave side is gone).
   */
  async write(bytes: Uint8Array): Promise<void> {
    let rest = bytes;
    while (rest.length > 0) {
      if (this.#closed) throw new Error("Cannot write to a closed terminal");
      const n = Number(this.#sym.write(this.#fd, rest, BigInt(rest.length)));
      if (n > 0) {
        rest = rest.subarray(n);
        continue;
      }
      const errno = readErrno(this.#sym);
      if (errno === EINTR) continue;
      if (errno !== EAGAIN) throw failure(this.#sym, "Cannot write to the terminal", errno);
      await this.#wait(POLLOUT);
    }
  }

  /**
   * Ends pending reads and writes (reads give null, writes throw), then closes the master and
   * the eventfd once no poll uses them. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      const one = new BigUint64Array([1n]);
      this.#sym.write(this.#cancel, one, 8n);
      await Promise.allSettled([...this.#polls]);
      this.#sym.close(this.#fd);
      this.#sym.close(this.#cancel);
    })();
    return this.#closing;
  }

  /** Waits until the master is ready for `events`, hangs up, or close() is called. */
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

function failure(sym: PtySymbols, what: string, errno = readErrno(sym)): Error {
  return new Error(`${what}: ${strerrorOf(sym, errno)} (errno ${errno})`);
}
