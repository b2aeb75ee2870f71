/**
 * Pseudo-terminal masters through Deno's FFI: `open("/dev/ptmx")`, unlock (`TIOCSPTLCK`), the
 * slave's number (`TIOCGPTN`), window size (`TIOCSWINSZ`), and non-blocking `read(2)` and
 * `write(2)`. Needs `--allow-ffi` (part of `-A`) and a glibc `libc.so.6`.
 *
 * How reads avoid blocking the JS thread: the master is opened `O_NONBLOCK` and read and
 * written through a {@linkcode PollFd}, which waits in `poll(2)` off the JS thread when a call
 * answers `EAGAIN`, and whose close wakes those waits.
 *
 * @module
 */
import { errnoError } from "./libc.ts";
import { PollFd } from "./poll_fd.ts";

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  read: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: false },
  write: { parameters: ["i32", "buffer", "u64"], result: "i64", nonblocking: false },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32", nonblocking: false },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32", nonblocking: false },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32", nonblocking: false },
  cfmakeraw: { parameters: ["buffer"], result: "void", nonblocking: false },
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
  strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
} as const;

type PtySymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const TIOCSPTLCK = 0x40045431n;
const TIOCGPTN = 0x80045430n;
const TIOCSWINSZ = 0x5414n;
const TIOCGWINSZ = 0x5413n;
/** glibc's `struct termios` is 60 bytes on Linux; room to spare. */
const TERMIOS_SIZE = 128;
const TCSANOW = 0;
/** A master reads `EIO` once every slave fd is closed: the end. */
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
  #io: PollFd;
  /** `/dev/pts/<n>`. */
  readonly slavePath: string;

  private constructor(sym: PtySymbols, io: PollFd, slavePath: string) {
    this.#sym = sym;
    this.#io = io;
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
    if (fd < 0) throw errnoError(sym, "Cannot open /dev/ptmx for a terminal");
    try {
      const int = new Int32Array(1);
      if (sym.ioctl(fd, TIOCSPTLCK, int) < 0) {
        throw errnoError(sym, "Cannot unlock the terminal's slave (TIOCSPTLCK)");
      }
      if (sym.ioctl(fd, TIOCGPTN, int) < 0) {
        throw errnoError(sym, "Cannot get the terminal's number (TIOCGPTN)");
      }
      const io = PollFd.wrap(fd, {
        read: (fd, buf) => Number(sym.read(fd, buf, BigInt(buf.length))),
        write: (fd, bytes) => Number(sym.write(fd, bytes, BigInt(bytes.length))),
      }, { name: "terminal", endErrnos: [EIO] });
      return new PtyMaster(sym, io, `/dev/pts/${int[0]}`);
    } catch (err) {
      sym.close(fd);
      throw err;
    }
  }

  /** The master's fd number (for tests: fd accounting). */
  get fd(): number {
    return this.#io.fd;
  }

  /** Whether {@linkcode PtyMaster.close} was called. */
  get closed(): boolean {
    return this.#io.closed;
  }

  /**
   * Sets the window size (`TIOCSWINSZ`); the kernel sends SIGWINCH to the terminal's
   * foreground process group. Ignored once closed.
   *
   * @throws {Error} When the ioctl fails.
   */
  resize(size: WindowSize): void {
    if (this.closed) return;
    const ws = new Uint16Array([size.height, size.width, 0, 0]);
    if (this.#sym.ioctl(this.fd, TIOCSWINSZ, ws) < 0) {
      throw errnoError(this.#sym, `Cannot set the terminal size to ${size.width}x${size.height}`);
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
    if (this.#sym.tcgetattr(this.fd, termios) < 0) {
      throw errnoError(this.#sym, "Cannot read the terminal's mode");
    }
    this.#sym.cfmakeraw(termios);
    if (this.#sym.tcsetattr(this.fd, TCSANOW, termios) < 0) {
      throw errnoError(this.#sym, "Cannot put the terminal in raw mode");
    }
  }

  /** The window size (`TIOCGWINSZ`). */
  size(): WindowSize {
    const ws = new Uint16Array(4);
    if (this.#sym.ioctl(this.fd, TIOCGWINSZ, ws) < 0) {
      throw errnoError(this.#sym, "Cannot get the terminal size");
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
  read(max = 16_384): Promise<Uint8Array | null> {
    return this.#io.read(max);
  }

  /**
   * Writes all of `bytes` to the master (the slave's input), waiting while the terminal's
   * buffer is full.
   *
   * @throws {Error} When closed meanwhile, or on a write error (`EIO`: the slave side is gone).
   */
  write(bytes: Uint8Array): Promise<void> {
    return this.#io.write(bytes);
  }

  /**
   * Ends pending reads and writes (reads give null, writes throw), then closes the master and
   * its eventfd once no poll uses them. Idempotent.
   */
  close(): Promise<void> {
    return this.#io.close();
  }
}
