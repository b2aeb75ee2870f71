/**
 * Unix `SOCK_DGRAM` sockets through Deno's FFI (Deno's own unix datagram sockets are unstable
 * and cannot reach abstract names): {@linkcode sendDatagram} sends one message, as `sd_notify(3)`
 * does to `$NOTIFY_SOCKET`; {@linkcode DatagramReceiver} binds a socket and reads messages (what
 * systemd does; tests use it to play systemd's side).
 *
 * Addresses are paths, or abstract names written with a leading `@` (`@/org/freedesktop/...`).
 *
 * @module
 */
import { errnoError } from "./libc.ts";
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
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32", nonblocking: false },
  sendto: {
    parameters: ["i32", "buffer", "u64", "i32", "buffer", "u32"],
    result: "i64",
    nonblocking: false,
  },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const SOCK_DGRAM = 2;
const MSG_DONTWAIT = 0x40;

let loaded: Symbols | undefined;

function symbols(): Symbols {
  loaded ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return loaded;
}

/**
 * Encodes a `struct sockaddr_un` for a path or an `@`-prefixed abstract name.
 *
 * @returns the address bytes, whose length is the `socklen_t` to pass
 * @throws {Error} when the name is empty, has a NUL byte or does not fit 108 bytes
 */
export function sockaddrUn(address: string): Uint8Array<ArrayBuffer> {
  const abstract = address.startsWith("@");
  const name = new TextEncoder().encode(abstract ? address.slice(1) : address);
  if (address === "" || (!abstract && name.includes(0))) {
    throw new Error(`Invalid unix socket address "${address}"`);
  }
  // sun_path is 108 bytes: a path needs its NUL, an abstract name its leading NUL.
  if (name.length + 1 > 108) throw new Error(`Unix socket address "${address}" is too long`);
  const addr = new Uint8Array(2 + 1 + name.length);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  // A path keeps its terminating NUL (the last byte); an abstract name counts exactly.
  return addr;
}

/**
 * Sends one datagram to a unix socket without blocking.
 *
 * @param address a path, or `@name` for an abstract socket
 * @param message the datagram
 * @throws {Error} when FFI is not permitted, or the socket or send fails (with `errno`)
 */
export function sendDatagram(address: string, message: Uint8Array | string): void {
  const sym = symbols();
  const bytes = typeof message === "string" ? new TextEncoder().encode(message) : message;
  const addr = sockaddrUn(address);
  const fd = sym.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errnoError(sym, "Cannot create a unix datagram socket");
  try {
    const buf = new Uint8Array(bytes);
    const sent = sym.sendto(
      fd,
      buf,
      BigInt(buf.length),
      MSG_DONTWAIT | MSG_NOSIGNAL,
      addr,
      addr.length,
    );
    if (sent < 0n) throw errnoError(sym, `Cannot send to "${address}"`);
  } finally {
    sym.close(fd);
  }
}

/** A bound unix datagram socket that reads messages. */
export class DatagramReceiver {
  #io: PollFd;
  /** The address bound. */
  readonly address: string;

  private constructor(io: PollFd, address: string) {
    this.#io = io;
    this.address = address;
  }

  /**
   * Binds a datagram socket at `address` (a path, which must not exist, or `@name`).
   *
   * @throws {Error} when FFI is not permitted or the bind fails (with `errno`)
   */
  static bind(address: string): DatagramReceiver {
    const sym = symbols();
    const addr = sockaddrUn(address);
    const fd = sym.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw errnoError(sym, "Cannot create a unix datagram socket");
    if (sym.bind(fd, addr, addr.length) < 0) {
      const err = errnoError(sym, `Cannot bind "${address}"`);
      sym.close(fd);
      throw err;
    }
    try {
      const io = PollFd.wrap(fd, {
        read: (fd, buf) => Number(sym.recv(fd, buf, BigInt(buf.length), 0)),
        write: () => -1,
      }, { name: "datagram socket" });
      return new DatagramReceiver(io, address);
    } catch (err) {
      sym.close(fd);
      throw err;
    }
  }

  /**
   * Waits for the next datagram.
   *
   * @returns its bytes, or null once closed
   */
  receive(max = 4096): Promise<Uint8Array | null> {
    return this.#io.read(max);
  }

  /** Closes the socket (a path stays on disk: the caller removes it). Idempotent. */
  close(): Promise<void> {
    return this.#io.close();
  }
}
