/**
 * Content-addressed blobs under `<images>/blobs/sha256/<hex>`. A blob is written to
 * `<images>/tmp/` while its digest is computed, and renamed into place only when the digest
 * matches: a partial or corrupt blob is never visible.
 *
 * @module
 */
import { OcidError } from "../errors.ts";
import { Digester, digestHex } from "./digest.ts";

/** The bytes received do not hash to the digest they were asked for. */
export class DigestMismatchError extends OcidError {
  constructor(message: string) {
    super("INTERNAL", message);
    this.name = "DigestMismatchError";
  }
}

/** Options of {@linkcode BlobStore.put}. */
export interface PutBlobOptions {
  /** Expected size from the descriptor; more bytes than this fail the write early. */
  size?: number;
  /** What the blob is, for messages (`layer 2 of "busybox"`). */
  what: string;
}

/** A directory of verified blobs. */
export class BlobStore {
  #dir: string;
  #tmp: string;

  /**
   * @param dir The blobs directory (`<images>/blobs`).
   * @param tmp A temp directory on the same filesystem.
   */
  constructor(dir: string, tmp: string) {
    this.#dir = dir;
    this.#tmp = tmp;
  }

  /** Creates the directories. */
  async init(): Promise<void> {
    await Deno.mkdir(`${this.#dir}/sha256`, { recursive: true });
    await Deno.mkdir(this.#tmp, { recursive: true });
  }

  /** The file of a blob (which may not exist). */
  path(digest: string): string {
    return `${this.#dir}/sha256/${digestHex(digest)}`;
  }

  /** Whether the blob is stored. */
  async has(digest: string): Promise<boolean> {
    try {
      return (await Deno.stat(this.path(digest))).isFile;
    } catch {
      return false;
    }
  }

  /** Reads a stored blob. */
  async read(digest: string): Promise<Uint8Array> {
    return await Deno.readFile(this.path(digest));
  }

  /**
   * Writes a blob from a stream, verifying it against `digest`.
   *
   * @param digest The expected `sha256:<hex>`.
   * @param stream The bytes; consumed or cancelled.
   * @param options Expected size and a description.
   * @returns The blob's path.
   * @throws {DigestMismatchError} When the bytes do not match the digest or size.
   */
  async put(
    digest: string,
    stream: ReadableStream<Uint8Array>,
    options: PutBlobOptions,
  ): Promise<string> {
    const final = this.path(digest);
    const tmp = `${this.#tmp}/${digestHex(digest)}.${crypto.randomUUID()}`;
    const hasher = new Digester();
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    let ok = false;
    try {
      const reader = stream.getReader();
      try {
        while (true) {
          const { done, value } = await reader.read();
          if (done) break;
          hasher.update(value);
          if (options.size !== undefined && hasher.bytes > options.size) {
            throw new DigestMismatchError(
              `${options.what} "${digest}" is larger than its declared ${options.size} bytes`,
            );
          }
          let off = 0;
          while (off < value.byteLength) off += await file.write(value.subarray(off));
        }
      } catch (err) {
        await reader.cancel().catch(() => {});
        throw err;
      }
      const got = hasher.digest();
      if (got !== digest) {
        throw new DigestMismatchError(
          `${options.what} should have digest "${digest}" but the registry sent "${got}" (${hasher.bytes} bytes)`,
        );
      }
      if (options.size !== undefined && hasher.bytes !== options.size) {
        throw new DigestMismatchError(
          `${options.what} "${digest}" has ${hasher.bytes} bytes, not the declared ${options.size}`,
        );
      }
      ok = true;
    } finally {
      file.close();
      if (!ok) await Deno.remove(tmp).catch(() => {});
    }
    await Deno.rename(tmp, final);
    return final;
  }

  /** Stores bytes already in memory (verified like {@linkcode put}). */
  async putBytes(digest: string, bytes: Uint8Array, what: string): Promise<string> {
    return await this.put(digest, ReadableStream.from([bytes]), { size: bytes.byteLength, what });
  }

  /** Deletes a blob; absent is fine. */
  async remove(digest: string): Promise<void> {
    await Deno.remove(this.path(digest)).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }

  /** Digests of all stored blobs. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    for await (const e of Deno.readDir(`${this.#dir}/sha256`)) out.push(`sha256:${e.name}`);
    return out;
  }
}
