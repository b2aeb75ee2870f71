/**
 * The `process` of each container's config.json, the template of its execs (env, cwd, user,
 * capabilities, ...), parsed once and kept while the file is unchanged: each exec costs a
 * `stat` instead of a read and a parse of the whole spec. A rewrite of config.json (ocid writes
 * it atomically: a new inode) is seen by its identity (inode, size, mtime, ctime) and read
 * again. An entry goes when its container is removed ({@linkcode ProcessTemplates.forget}), or
 * when a read finds the bundle gone; at most `maxEntries` are kept in any case.
 *
 * @module
 */
import { join } from "node:path";

/** A process spec as config.json holds it. */
export type ProcessSpec = Readonly<Record<string, unknown>>;

interface Entry {
  /** Identity of the config.json the process came from. */
  stamp: string;
  process: ProcessSpec;
}

/** How many bundles are remembered; the oldest entry goes first. @default 1024 */
const DEFAULT_MAX_ENTRIES = 1024;

/** The process templates of bundles. */
export class ProcessTemplates {
  #entries = new Map<string, Entry>();
  #max: number;

  /** @param maxEntries How many bundles are remembered. @default 1024 */
  constructor(maxEntries: number = DEFAULT_MAX_ENTRIES) {
    this.#max = maxEntries;
  }

  /**
   * The `process` of `<bundle>/config.json` (empty when it has none), read again when the file
   * changed. Callers copy it before they edit it.
   *
   * @param bundle The bundle dir.
   * @returns The process spec.
   * @throws {Deno.errors.NotFound} When there is no config.json; a parse error when it holds
   * no JSON.
   */
  async get(bundle: string): Promise<ProcessSpec> {
    const path = join(bundle, "config.json");
    let stamp: string;
    try {
      stamp = stampOf(await Deno.stat(path));
    } catch (err) {
      // The bundle went (its container was removed): its entry goes too.
      if (err instanceof Deno.errors.NotFound) this.#entries.delete(bundle);
      throw err;
    }
    const cached = this.#entries.get(bundle);
    if (cached?.stamp === stamp) return cached.process;
    const spec = JSON.parse(await Deno.readTextFile(path)) as { process?: ProcessSpec };
    const process = Object.freeze({ ...(spec.process ?? {}) });
    // Stamped before the read: a rewrite in between makes the next call read again.
    this.#entries.delete(bundle);
    this.#entries.set(bundle, { stamp, process });
    if (this.#entries.size > this.#max) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return process;
  }

  /** Drops the entry of `bundle`, whose container is removed (nothing execs in it again). */
  forget(bundle: string): void {
    this.#entries.delete(bundle);
  }

  /** How many bundles are remembered. */
  get size(): number {
    return this.#entries.size;
  }
}

function stampOf(info: Deno.FileInfo): string {
  return `${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}`;
}
