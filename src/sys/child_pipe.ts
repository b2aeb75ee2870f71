/**
 * Pipes whose far end one child gets at its own fd number, where `Deno.Command` hands a child
 * only fds 0 to 2: conmon's sync pipe (it writes, `_OCI_SYNCPIPE=<n>`) and start pipe (it waits
 * to read a byte before it runs the runtime, `_OCI_STARTPIPE=<n>`). CRI-O and Podman pass them at
 * 3 + the number of their other extra files; any number will do. Without them, a shell step had
 * to move a stdio pipe to fd 3 and exec conmon: one more exec, which put conmon's
 * `<runtime> create` 0.8 to 1.3 ms later in every CreateContainer here (5 alternated runs of 20).
 *
 * `pipe2(2)` makes both ends close-on-exec; the daemon's end is reopened as a Deno file through
 * `/proc/self/fd` (a pipe opened by path is the same pipe) and its first fd closed.
 * {@linkcode spawnWithPipes} then, in one synchronous run of the JS thread (so no other spawn
 * comes between): marks every fd of the daemon close-on-exec ({@linkcode markFdsCloseOnExec}),
 * clears the flag on the child's ends, spawns, and closes the child's ends here. The child gets
 * fds 0 to 2 and its ends, nothing else of the daemon. Needs `--allow-ffi` (part of `-A`), a
 * glibc `libc.so.6` and `close_range(2)` with `CLOSE_RANGE_CLOEXEC` (Linux 5.11); where any is
 * missing, {@linkcode ChildPipe.open} returns null and the caller takes the shell step.
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

/** A pipe between the daemon and one child; see the module doc. */
export class ChildPipe {
  /** The daemon's end: the read end when the child writes, else the write end. */
  readonly file: Deno.FsFile;
  /** The number under which the child finds its end. */
  readonly childFd: number;
  #sym: Symbols;
  #childOpen = true;
  #fileOpen = true;

  private constructor(sym: Symbols, file: Deno.FsFile, childFd: number) {
    this.#sym = sym;
    this.file = file;
    this.childFd = childFd;
  }

  /**
   * Makes a pipe whose far end a child can inherit under its own number.
   *
   * @param childWrites Whether the child writes (the daemon reads), else the child reads.
   * @returns The pipe, or null where FFI, libc or `close_range` are unavailable.
   * @throws {Error} When the pipe cannot be made (fds exhausted).
   */
  static open(childWrites: boolean): ChildPipe | null {
    const sym = symbols();
    if (!sym) return null;
    const fds = new Int32Array(2);
    if (sym.pipe2(fds, O_CLOEXEC) !== 0) throw new Error("Cannot make a pipe for a child");
    const [readFd, writeFd] = [fds[0]!, fds[1]!];
    const [ours, theirs] = childWrites ? [readFd, writeFd] : [writeFd, readFd];
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`/proc/self/fd/${ours}`, childWrites ? { read: true } : { write: true });
    } catch (err) {
      sym.close(theirs);
      throw err;
    } finally {
      sym.close(ours);
    }
    return new ChildPipe(sym, file, theirs);
  }

  /** Leaves the child's end open across exec; false when it is closed already. */
  inheritable(): boolean {
    return this.#childOpen && this.#sym.fcntl(this.childFd, F_SETFD, 0) === 0;
  }

  /** Closes the child's end here (the child keeps its copy). Idempotent. */
  closeChildEnd(): void {
    if (this.#childOpen) this.#sym.close(this.childFd);
    this.#childOpen = false;
  }

  /** Closes what is still open of both ends. Idempotent. */
  close(): void {
    this.closeChildEnd();
    if (this.#fileOpen) {
      this.#fileOpen = false;
      try {
        this.file.close();
      } catch { /* closed by its stream's cancel */ }
    }
  }
}

/**
 * Runs `spawn` with the pipes' child ends inheritable and every other fd of the daemon
 * close-on-exec, then closes the child ends here, whether `spawn` threw or not.
 *
 * @param pipes The pipes the child gets.
 * @param spawn A synchronous spawn, `new Deno.Command(...).spawn()`.
 * @returns What `spawn` returned.
 * @throws What `spawn` threw; an Error when a child end is closed already or cannot be made
 *   inheritable.
 */
export function spawnWithPipes<T>(pipes: readonly ChildPipe[], spawn: () => T): T {
  try {
    if (!markFdsCloseOnExec() || !pipes.every((p) => p.inheritable())) {
      throw new Error("Cannot hand the child its pipes");
    }
    return spawn();
  } finally {
    for (const p of pipes) p.closeChildEnd();
  }
}
