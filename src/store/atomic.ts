/**
 * Crash-safe file writes: after a crash the file holds either the old or the new content,
 * never a mix or nothing.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/** Options of {@linkcode writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Permission bits of the file. @default 0o600 */
  mode?: number;
  /**
   * What reaches the disk before it returns. `"all"`: the content, then the rename (the new
   * file survives a power loss). `"content"`: the content only; a power loss leaves the old
   * file or the new one, never a mix or nothing (enough to replace a file whose old content
   * is still a valid state). `"none"`: a power loss may leave the old content or no file (for
   * files nothing reads after a reboot). A crash of the process keeps the new file in every
   * case: the page cache has it.
   * @default "all"
   */
  sync?: "all" | "content" | "none";
}

/**
 * Writes a file atomically: writes a temporary file in the same directory, fsyncs it,
 * renames it over `path`, then fsyncs the directory so the rename itself is durable (less with
 * `sync`). The temporary file is removed when anything fails.
 *
 * @param path the file to write; its directory must exist
 * @param data the content (strings are written as UTF-8)
 * @throws {Deno.errors.NotFound} when the directory does not exist; any I/O error
 * @example
 * ```ts
 * await writeFileAtomic("/var/lib/ocid/pods/abc/sandbox.json", JSON.stringify(record));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  const { mode = 0o600, sync = "all" } = options;
  const dir = dirname(path);
  const suffix = crypto.getRandomValues(new Uint32Array(2)).join("");
  const tmp = join(dir, `.${basename(path)}.${suffix}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    if (sync === "none") {
      // One operation (open, write, close) where no fsync is wanted.
      await Deno.writeFile(tmp, bytes, { createNew: true, mode });
    } else {
      const file = await Deno.open(tmp, {
        write: true,
        createNew: true,
        mode,
      });
      try {
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
        await file.sync();
      } finally {
        file.close();
      }
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  if (sync === "all") await syncDir(dir);
}

/** Flushes a directory's entries (a rename or unlink in it) to disk. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Reads and parses a JSON file. The result is not checked against `T`: validate what
 * matters before trusting it.
 *
 * @throws {Deno.errors.NotFound} when the file does not exist
 * @throws {SyntaxError} naming the file when it is not valid JSON
 */
export async function readJsonFile<T = unknown>(path: string): Promise<T> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new SyntaxError(`Cannot parse JSON in ${path}: ${message}`, { cause: err });
  }
}
