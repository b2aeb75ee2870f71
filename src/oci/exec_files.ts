/**
 * The files of each `<runtime> exec` that ExecSync or a streaming exec session runs: the
 * process spec (`--process`) and the pid file (`--pid-file`). They live side by side in one dir
 * (`<runroot>/exec`), made once, instead of a temp dir made and removed per exec. Each exec
 * gets names of its own (`<container id>.<uuid>.json` and `.pid`): a pid file never exists
 * before the runtime writes it, so the kill at a timeout or disconnect never reads a stale pid.
 *
 * The files are removed once the exec is over, in the background (the reply or the end of the
 * session does not wait); a failure is logged. Whatever a failed removal, a crash or a runtime killed mid-write (runc
 * writes `.<name>.pid` then renames it) leaves is garbage the sweep removes: every entry of the
 * dir that no exec in flight owns ({@linkcode ExecFiles.inUse}).
 *
 * @module
 */
import { join } from "node:path";
import type { Logger } from "../log.ts";
import { nullLogger } from "../log.ts";

/** The files of one exec. */
export interface ExecFilePair {
  /** Where the process spec goes (`--process`). */
  processFile: string;
  /** Where the runtime writes the process's pid (`--pid-file`); does not exist yet. */
  pidFile: string;
}

/** Options of {@linkcode ExecFiles}. */
export interface ExecFilesOptions {
  /** Where a failed removal is reported. @default nullLogger */
  logger?: Logger;
}

/** The exec files under one dir; one instance per dir, shared by every runtime using it. */
export class ExecFiles {
  /** The dir holding the files. */
  readonly dir: string;
  #logger: Logger;
  #made: Promise<void> | undefined;
  /** `<id>.<uuid>` of the execs whose files may exist and must stay. */
  #live = new Set<string>();
  #removing = new Set<Promise<void>>();

  /**
   * @param dir The dir of the files; made (mode 0700) on first use.
   * @param options The logger.
   */
  constructor(dir: string, options: ExecFilesOptions = {}) {
    this.dir = dir;
    this.#logger = options.logger ?? nullLogger;
  }

  /**
   * Writes the process spec of a new exec in container `id` and names its pid file. The files
   * are the caller's until it passes them to {@linkcode release}.
   *
   * @param id The container's id (part of the names, for whoever looks at the dir).
   * @param process The OCI process spec.
   * @returns The paths.
   */
  async create(id: string, process: unknown): Promise<ExecFilePair> {
    const key = `${id}.${crypto.randomUUID()}`;
    const files = {
      processFile: join(this.dir, `${key}.json`),
      pidFile: join(this.dir, `${key}.pid`),
    };
    this.#live.add(key);
    const data = JSON.stringify(process);
    try {
      await this.#ensureDir();
      try {
        await Deno.writeTextFile(files.processFile, data, { mode: 0o600 });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
        // The dir went away after it was made (a runroot wiped under the daemon): make it again.
        this.#made = undefined;
        await this.#ensureDir();
        await Deno.writeTextFile(files.processFile, data, { mode: 0o600 });
      }
    } catch (err) {
      this.release(files);
      throw err;
    }
    return files;
  }

  /**
   * Removes the files of an exec that is over, in the background; a failure is logged and the
   * files become the sweep's. {@linkcode settled} waits for it.
   *
   * @param files What {@linkcode create} returned.
   */
  release(files: ExecFilePair): void {
    const key = keyOf(files.processFile.slice(this.dir.length + 1));
    const removal = (async () => {
      for (const path of [files.processFile, files.pidFile]) {
        try {
          await Deno.remove(path);
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) {
            this.#logger.warn("Cannot remove an exec file", { path, err });
          }
        }
      }
      this.#live.delete(key);
    })();
    this.#removing.add(removal);
    void removal.finally(() => this.#removing.delete(removal));
  }

  /**
   * Whether an entry of {@linkcode dir} belongs to an exec in flight (the sweep leaves it).
   *
   * @param name The entry's name.
   */
  inUse(name: string): boolean {
    return this.#live.has(keyOf(name));
  }

  /** Settles when the removals started so far are done. */
  async settled(): Promise<void> {
    while (this.#removing.size > 0) await Promise.all(this.#removing);
  }

  #ensureDir(): Promise<void> {
    this.#made ??= Deno.mkdir(this.dir, { recursive: true, mode: 0o700 }).catch((err) => {
      this.#made = undefined;
      throw err;
    });
    return this.#made;
  }
}

/** `<id>.<uuid>` of an entry: `<id>.<uuid>.json`, `.pid`, or runc's `.<id>.<uuid>.pid`. */
function keyOf(name: string): string {
  const bare = name.startsWith(".") ? name.slice(1) : name;
  const dot = bare.lastIndexOf(".");
  return dot < 0 ? bare : bare.slice(0, dot);
}
