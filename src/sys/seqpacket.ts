/**
 * A client of a unix `SOCK_SEQPACKET` socket (conmon's attach socket) through Deno's FFI,
 * which Deno's own sockets do not offer. Long paths are reached through the parent
 * directory's `/proc/self/fd/<n>` entry (an `O_PATH` fd), as conmon binds them.
 *
 * Like {@linkcode PtyMaster}: the socket is non-blocking and read and written through a
 * {@linkcode PollFd}, which waits in `poll(2)` off the JS thread and whose close wakes those
 * waits.
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { errnoError, readErrno } from "./libc.ts";
import {
  AF_UNIX,
  MSG_NOSIGNAL,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCKET_SYMBOLS,
} from "./libc_socket.ts";
import { PollFd } from "./poll_fd.ts";

const SYMBOLS = {
  ...SOCKET_SYMBOLS,
  open: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32", nonblocking: false },
  send: { parameters: ["i32", "buffer", "u64", "i32"], result: "i64", nonblocking: false },
  shutdown: { parameters: ["i32", "i32"], result: "i32", nonblocking: false },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const SOCK_SEQPACKET = 5;
const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const SHUT_WR = 1;
const EINPROGRESS = 115;

let loaded: Symbols | undefined;

function symbols(): Symbols {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return loaded;
}

/** A connected `SOCK_SEQPACKET` socket. */
export class SeqpacketConn {
  #sym: Symbols;
  #io: PollFd;

  private constructor(sym: Symbols, io: PollFd) {
    this.#sym = sym;
    this.#io = io;
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
    if (dir < 0) throw errnoError(sym, `Cannot open the directory of socket "${path}"`);
    let fd = -1;
    try {
      const name = enc.encode(`/proc/self/fd/${dir}/${basename(path)}`);
      // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }
      const addr = new Uint8Array(110);
      new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
      if (name.length > 107) throw new Error(`Socket name "${basename(path)}" is too long`);
      addr.set(name, 2);
      fd = sym.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) throw errnoError(sym, "Cannot create a SOCK_SEQPACKET socket");
      if (sym.connect(fd, addr, addr.length) < 0) {
        const errno = readErrno(sym);
        // A unix socket connects at once or not at all, but be safe.
        if (errno !== EINPROGRESS) throw errnoError(sym, `Cannot connect to "${path}"`, errno);
      }
      const io = PollFd.wrap(fd, {
        read: (fd, buf) => Number(sym.recv(fd, buf, BigInt(buf.length), 0)),
        write: (fd, bytes) => Number(sym.send(fd, bytes, BigInt(bytes.length), MSG_NOSIGNAL)),
      }, { name: "socket" });
      fd = -1;
      return new SeqpacketConn(sym, io);
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
  read(max = 32_768): Promise<Uint8Array | null> {
    return this.#io.read(max);
  }

  /**
   * Sends `bytes` as one packet.
   *
   * @throws {Error} When closed meanwhile, or on a send error.
   */
  write(bytes: Uint8Array): Promise<void> {
    return this.#io.write(bytes);
  }

  /** Ends our direction (`shutdown(SHUT_WR)`): the peer reads the end. */
  closeWrite(): void {
    if (!this.#io.closed) this.#sym.shutdown(this.#io.fd, SHUT_WR);
  }

  /** Ends pending reads and writes, then closes the socket once no poll uses it. Idempotent. */
  close(): Promise<void> {
    return this.#io.close();
  }
}
