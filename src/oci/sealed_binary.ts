/**
 * A sealed in-memory copy of runc, which conmon's `create` and ExecSync's `exec` run instead of
 * the file, so that `runc init` does not make a safe copy of its own binary at every start.
 *
 * Since CVE-2019-5736 (a container overwriting the host's runc through `/proc/self/exe`), runc
 * 1.1's `runc init` first makes itself a copy it cannot be written through (a read-only bind
 * mount of `/proc/self/exe`, else a copy into a sealed memfd), unless `/proc/self/exe` already is
 * a memfd with all four seals (`F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE`): runc's own
 * comment says an administrator may put such a memfd in runc's place for this very reason. Here
 * the daemon makes that memfd once (and again when the file on disk changes, a runc upgrade),
 * and links it as `<dir>/runc` -> `/proc/<daemon pid>/fd/<n>`: runc runs under its own name
 * (the process's `comm`), and a restarted daemon makes a new one. Measured here (runc 1.1.5,
 * 20 alternated `runc create` each): p50 30.8 -> 26.7 ms.
 *
 * The copy costs the node the binary's size in shared memory (8.3 MiB for runc 1.1.5), charged to
 * the daemon's memory cgroup, not to its RSS. The first copy is run once (`--version`) before it
 * is used. When anything fails (no FFI, a kernel without memfd, a node whose `vm.memfd_noexec` or
 * security module forbids running a memfd), the runtime is run from its file, as before, logged
 * once.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { type Logger, nullLogger } from "../log.ts";
import { denoRunner } from "../process.ts";

/** Where to run a runtime from. */
export interface SealedBinary {
  /**
   * The path to run the runtime by: the sealed copy's link while the copy is of the file as it
   * is now (made again when the file changed), else the file. Never throws.
   */
  path(): Promise<string>;
}

/** All four seals runc checks for (`RUNC_MEMFD_SEALS`). */
export const RUNC_MEMFD_SEALS = 0x1 | 0x2 | 0x4 | 0x8;

const MFD_CLOEXEC = 0x1;
const MFD_ALLOW_SEALING = 0x2;
/** Linux 6.3: the memfd may be run; older kernels refuse the flag (EINVAL) and allow it anyway. */
const MFD_EXEC = 0x10;
const F_ADD_SEALS = 1033;
const F_GET_SEALS = 1034;

const SYMBOLS = {
  memfd_create: { parameters: ["buffer", "u32"], result: "i32", nonblocking: false },
  // fcntl(2) is variadic; its third argument is an int for the seal commands.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32", nonblocking: false },
  close: { parameters: ["i32"], result: "i32", nonblocking: false },
} as const;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let loaded: Symbols | null | undefined;

function symbols(): Symbols | null {
  if (loaded === undefined) {
    try {
      loaded = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    } catch {
      loaded = null; // No FFI permission or no libc.
    }
  }
  return loaded;
}

/** Options of {@linkcode createSealedBinary}. */
export interface SealedBinaryOptions {
  /** The runtime's file, e.g. `/usr/sbin/runc`. */
  file: string;
  /** The link to make, e.g. `<runroot>/runtimes.d/runc/runc` (its basename becomes `comm`). */
  link: string;
  /**
   * Whether to make a copy at all: only for runc, whose `init` knows a sealed memfd (the
   * runtime's features). @default true
   */
  enabled?: boolean | Promise<boolean>;
  logger?: Logger;
}

/**
 * Makes the {@linkcode SealedBinary} of a runtime; the copy is made at the first
 * {@linkcode SealedBinary.path}.
 */
export function createSealedBinary(options: SealedBinaryOptions): SealedBinary {
  const { file, link } = options;
  const log = options.logger ?? nullLogger;
  let current: { fd: number; identity: string } | undefined;
  let making: Promise<void> | undefined;
  let off = false;

  const turnOff = (err: unknown) => {
    off = true;
    log.info("Running the runtime from its file, not from a sealed copy", {
      file,
      error: err as Error,
    });
  };

  const make = async (identity: string) => {
    const sym = symbols();
    if (!sym) throw new Error("no FFI to libc");
    const name = new TextEncoder().encode("runc\0");
    let fd = sym.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0) fd = sym.memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) throw new Error("memfd_create failed");
    try {
      await Deno.copyFile(file, `/proc/self/fd/${fd}`);
      if (
        sym.fcntl(fd, F_ADD_SEALS, RUNC_MEMFD_SEALS) !== 0 ||
        sym.fcntl(fd, F_GET_SEALS, 0) !== RUNC_MEMFD_SEALS
      ) {
        throw new Error("cannot seal the copy");
      }
      // The copy must be of the file as stat saw it: an upgrade in between makes it again.
      if (await identityOf(file) !== identity) throw new Changed();
      await Deno.mkdir(dirname(link), { recursive: true });
      const tmp = join(dirname(link), `.${crypto.randomUUID()}`);
      await Deno.symlink(`/proc/${Deno.pid}/fd/${fd}`, tmp);
      await Deno.rename(tmp, link).catch(async (err) => {
        await Deno.remove(tmp).catch(() => {});
        throw err;
      });
      // Once per copy: a node that will not run it (`vm.memfd_noexec`, a security module) must
      // not fail every create; it runs the file instead.
      if (!current) await denoRunner.run(link, ["--version"]);
    } catch (err) {
      if (!current) await Deno.remove(link).catch(() => {});
      sym.close(fd);
      throw err;
    }
    // A start already past the link holds the old copy itself; later ones find the new one.
    if (current) sym.close(current.fd);
    current = { fd, identity };
    log.info("Runtime runs from a sealed copy", { file, link, identity });
  };

  return {
    async path() {
      if (off || !(await options.enabled ?? true)) return file;
      try {
        const identity = await identityOf(file);
        if (current?.identity === identity) return link;
        making ??= make(identity).finally(() => making = undefined);
        await making;
        return current?.identity === identity ? link : file;
      } catch (err) {
        if (!(err instanceof Changed)) turnOff(err);
        return file;
      }
    },
  };
}

/** The file changed while it was copied (an upgrade): the next start copies it again. */
class Changed extends Error {}

/** What tells one version of a file from another: device, inode, size and change time. */
async function identityOf(file: string): Promise<string> {
  const st = await Deno.stat(file);
  return `${st.dev}:${st.ino}:${st.size}:${st.ctime?.getTime() ?? 0}`;
}
