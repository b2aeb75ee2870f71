/** An in-memory RecordFs that can fail writes or hold them until released. */
import type { RecordFs, WriteFileAtomicOptions } from "../../../src/store/mod.ts";

export class FakeRecordFs implements RecordFs {
  files = new Map<string, string>();
  dirs = new Set<string>();
  /** When set, every write throws it. */
  failWrites: Error | undefined;
  /** How many of the next writes fail (with "injected write failure"). */
  failNextWrites = 0;
  /** When set, a write waits for it before it lands. */
  gate: Promise<void> | undefined;
  /** Paths written, in order. */
  writes: string[] = [];
  /** What each write asked to reach the disk, in order. */
  syncs: string[] = [];

  mkdir(path: string): Promise<void> {
    this.dirs.add(path);
    return Promise.resolve();
  }

  async writeFileAtomic(
    path: string,
    data: string,
    options: WriteFileAtomicOptions = {},
  ): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failWrites) throw this.failWrites;
    if (this.failNextWrites > 0) {
      this.failNextWrites--;
      throw new Error("injected write failure");
    }
    this.files.set(path, data);
    this.writes.push(path);
    this.syncs.push(options.sync ?? "all");
  }

  readTextFile(path: string): Promise<string> {
    const text = this.files.get(path);
    return text === undefined
      ? Promise.reject(new Deno.errors.NotFound(path))
      : Promise.resolve(text);
  }

  readDirNames(path: string): Promise<string[]> {
    const names = [...this.dirs]
      .filter((d) => d.startsWith(path + "/") && !d.slice(path.length + 1).includes("/"))
      .map((d) => d.slice(path.length + 1));
    return Promise.resolve(names);
  }

  readFileNames(path: string): Promise<string[]> {
    const names = [...this.files.keys()]
      .filter((f) => f.startsWith(path + "/") && !f.slice(path.length + 1).includes("/"))
      .map((f) => f.slice(path.length + 1));
    return Promise.resolve(names);
  }

  remove(path: string): Promise<void> {
    if (this.files.delete(path)) return Promise.resolve();
    if (this.dirs.has(path)) {
      if ([...this.files.keys()].some((f) => f.startsWith(path + "/"))) {
        return Promise.reject(new Error(`Directory not empty: ${path}`));
      }
      this.dirs.delete(path);
      return Promise.resolve();
    }
    return Promise.reject(new Deno.errors.NotFound(path));
  }
}

/** A promise with its resolve function. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => resolve = r);
  return { promise, resolve };
}
