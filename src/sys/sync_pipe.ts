/**
 * A pipe whose write end one child gets at its own fd number, where `Deno.Command` hands a child
 * only fds 0 to 2: conmon's sync pipe, named to it as `_OCI_SYNCPIPE=<n>` (CRI-O and Podman
 * pass it at 3 + the number of their other extra files; any number will do). Without it, a shell
 * step had to move a stdio pipe to fd 3 and exec conmon: one more exec, which put conmon's
 * `<runtime> create` 0.8 to 1.3 ms later in every CreateContainer here (5 alternated runs of 20).
 *
 * `pipe2(2)` makes both ends close-on-exec; the read end is reopened as a Deno file through
 * `/proc/self/fd` (a pipe opened by path is the same pipe) and its first fd closed.
 * {@linkcode SyncPipe.spawn} then, in one synchronous run of the JS thread (so no other spawn
 * comes between): marks every fd of the daemon close-on-exec ({@linkcode markFdsCloseOnExec}),
 * clears the flag on the write end, spawns, and closes the write end here. The child gets fds
 * 0 to 2 and the write end, nothing else of the daemon. Needs `--allow-ffi` (part of `-A`), a
 * glibc `libc.so.6` and `close_range(2)` with `CLOSE_RANGE_CLOEXEC` (Linux 5.11); where any is
 * missing, {@linkcode openSyncPipe} returns null and the caller takes the shell step.
 *
 * @module
 */
import { markFdsCloseOnExec } from "./cloexec.ts";

const SYMBOLS = {
  pipe2: { parameters: ["buffer", "i32"], result: "i32", nonblocking: false },
  // fcntl(2) is variadic; its third argument is an int for F_SETFD.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const O_CLOEXEC = 0o2000000;
const F_SETFD = 2;

let loaded: Symbols | null | undefined;

function symbols(): Symbols | null {
  if (loaded === undefined) {
    try {
      loaded = markFdsCloseOnExec() ? Deno.dlopen("libc.so.6", SYMBOLS).symbols : null;
    } catch {
      loaded = null; // No FFI permission or no libc.
    }
  }
  return loaded;
}

/** A pipe for one child; see the module doc. */
export interface SyncPipe {
  /** The read end (close-on-exec). {@linkcode SyncPipe.close} closes it. */
  readonly reader: Deno.FsFile;
  /** The number under which the child finds the write end. */
  readonly writeFd: number;
  /**
   * Runs `spawn` with the write end inheritable and every other fd of the daemon close-on-exec,
   * then closes the write end here, whether `spawn` threw or not. Once only.
   *
   * @param spawn A synchronous spawn, `new Deno.Command(...).spawn()`.
   * @returns What `spawn` returned.
   * @throws What `spawn` threw; an Error when called twice or after close.
   */
  spawn<T>(spawn: () => T): T;
  /** Closes what is still open of both ends. Idempotent. */
  close(): void;
}

/**
 * Makes a pipe whose write end a child can inherit under its own number.
 *
 * @returns The pipe, or null where FFI, libc or `close_range` are unavailable.
 * @throws {Error} When the pipe cannot be made (fds exhausted).
 */
export function openSyncPipe(): SyncPipe | null {
  const sym = symbols();
  if (!sym) return null;
  const fds = new Int32Array(2);
  if (sym.pipe2(fds, O_CLOEXEC) !== 0) throw new Error("Cannot make a pipe for conmon");
  const [readFd, writeFd] = [fds[0]!, fds[1]!];
  let reader: Deno.FsFile;
  try {
    reader = Deno.openSync(`/proc/self/fd/${readFd}`, { read: true });
  } catch (err) {
    sym.close(writeFd);
    throw err;
  } finally {
    sym.close(readFd);
  }
  let writeOpen = true;
  let readerOpen = true;
  const closeWrite = () => {
    if (writeOpen) sym.close(writeFd);
    writeOpen = false;
  };
  return {
    reader,
    writeFd,
    spawn<T>(spawn: () => T): T {
      if (!writeOpen) throw new Error("The sync pipe's write end is closed");
      try {
        if (!markFdsCloseOnExec() || sym.fcntl(writeFd, F_SETFD, 0) !== 0) {
          throw new Error("Cannot make the sync pipe inheritable");
        }
        return spawn();
      } finally {
        closeWrite();
      }
    },
    close() {
      closeWrite();
      if (readerOpen) {
        readerOpen = false;
        try {
          reader.close();
        } catch { /* closed by its stream's cancel */ }
      }
    },
  };
}
