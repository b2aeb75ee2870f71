/**
 * Image records, one JSON file per image under `<images>/records/<id hex>.json`, written
 * atomically (temp file + rename) and reloaded at start; an in-memory tag -> id index.
 *
 * @module
 */
import { digestHex } from "./digest.ts";
import type { ImageConfig } from "./manifest.ts";

/** A pulled image. */
export interface ImageRecord {
  /** The config digest, `sha256:<hex>`. */
  id: string;
  /** Normalised `registry/repo:tag` names pointing at this image. */
  repoTags: string[];
  /** `registry/repo@sha256:<manifest or index digest>`. */
  repoDigests: string[];
  /** Bytes of unpacked layer content. */
  size: number;
  /** From the config's User when numeric. */
  uid?: number;
  /** From the config's User when a name. */
  username?: string;
  /** Kept by garbage collection (the pause image). */
  pinned: boolean;
  /** Chain IDs, bottom layer first. */
  chainIds: string[];
  /** Digest of the platform manifest. */
  manifestDigest: string;
  /** The runtime part of the image config (Env, Entrypoint, Cmd, User, WorkingDir, ...). */
  config: NonNullable<ImageConfig["config"]> & Record<string, unknown>;
  /** When this image was first pulled (ISO 8601). */
  pulledAt: string;
}

/** The persisted image records with lookups by id, id prefix, tag and repo digest. */
export class ImageStore {
  #dir: string;
  #byId = new Map<string, ImageRecord>();
  #byTag = new Map<string, string>();

  /** @param dir `<images>/records`. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Creates the directory and loads every record; stray temp files are removed. */
  async load(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    for await (const e of Deno.readDir(this.#dir)) {
      const path = `${this.#dir}/${e.name}`;
      if (!e.name.endsWith(".json")) {
        await Deno.remove(path).catch(() => {});
        continue;
      }
      const rec = JSON.parse(await Deno.readTextFile(path)) as ImageRecord;
      this.#index(rec);
    }
  }

  #index(rec: ImageRecord): void {
    this.#byId.set(rec.id, rec);
    for (const t of rec.repoTags) this.#byTag.set(t, rec.id);
  }

  /** Every record. */
  all(): ImageRecord[] {
    return [...this.#byId.values()];
  }

  /** A record by full id. */
  get(id: string): ImageRecord | undefined {
    return this.#byId.get(id);
  }

  /** The image a normalised `repo:tag` points at. */
  byTag(tag: string): ImageRecord | undefined {
    const id = this.#byTag.get(tag);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  /** The image with a `repo@digest` among its repo digests. */
  byRepoDigest(repoDigest: string): ImageRecord | undefined {
    return this.all().find((r) => r.repoDigests.includes(repoDigest));
  }

  /** Records whose id hex starts with `prefix` (hex, without `sha256:`). */
  byPrefix(prefix: string): ImageRecord[] {
    return this.all().filter((r) => r.id.slice("sha256:".length).startsWith(prefix));
  }

  /**
   * Saves a record (replacing one with the same id). Tags it takes are removed from other
   * images, which are saved too.
   */
  async put(rec: ImageRecord): Promise<void> {
    for (const tag of rec.repoTags) {
      const other = this.byTag(tag);
      if (other && other.id !== rec.id) {
        const updated = { ...other, repoTags: other.repoTags.filter((t) => t !== tag) };
        await this.#write(updated);
        this.#byId.set(updated.id, updated);
      }
    }
    const old = this.#byId.get(rec.id);
    await this.#write(rec);
    if (old) { for (const t of old.repoTags) this.#byTag.delete(t); }
    this.#index(rec);
  }

  /** Deletes a record; absent is fine. */
  async delete(id: string): Promise<void> {
    const rec = this.#byId.get(id);
    await Deno.remove(`${this.#dir}/${digestHex(id)}.json`).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    if (!rec) return;
    this.#byId.delete(id);
    for (const t of rec.repoTags) if (this.#byTag.get(t) === id) this.#byTag.delete(t);
  }

  async #write(rec: ImageRecord): Promise<void> {
    const final = `${this.#dir}/${digestHex(rec.id)}.json`;
    const tmp = `${final}.${crypto.randomUUID()}.tmp`;
    try {
      await Deno.writeTextFile(tmp, JSON.stringify(rec, null, 1));
      await Deno.rename(tmp, final);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
  }
}
