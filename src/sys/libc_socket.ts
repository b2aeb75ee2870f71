/**
 * The libc socket calls and constants that ocid's FFI socket bindings share
 * (`seqpacket.ts`, `unix_datagram.ts`); each binding spreads {@linkcode SOCKET_SYMBOLS} into its
 * own symbol set and opens libc once.
 *
 * @module
 */

/** `socket(2)`, `recv(2)`, `close(2)`, `errno` and `strerror(3)`, all synchronous. */
export const SOCKET_SYMBOLS = {
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32", nonblocking: false },
  recv: { parameters: ["i32", "buffer", "u64", "i32"], result: "i64", nonblocking: false },
  __errno_location: { parameters: [], result: "pointer", nonblocking: false },
  strerror: { parameters: ["i32"], result: "pointer", nonblocking: false },
} as const;

/** The unix address family. */
export const AF_UNIX = 1;
/** `socket(2)` type flag: non-blocking. */
export const SOCK_NONBLOCK = 0o4000;
/** `socket(2)` type flag: close on exec. */
export const SOCK_CLOEXEC = 0o2000000;
/** `send(2)` flag: no SIGPIPE when the peer is gone. */
export const MSG_NOSIGNAL = 0x4000;
