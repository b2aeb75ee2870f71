/**
 * Unpacked layers, one directory per chain ID shared by every image that has it:
 * `<images>/layers/<chain hex>/diff` plus `layer.json`. A layer is built in
 * `<images>/layers/.tmp-...` and renamed into place when complete, so a half-applied layer is
 * never visible; the same layer built twice at once is built once.
 *
 * @module
 */
import { digestHex } from "./digest.ts";
import { sharedWork } from "./shared_work.ts";

/** What is known of a stored layer. */
export interface LayerRecord {
  chainId: string;
  diffId: string;
  /** Chain ID of the layer below, if any. */
  parent?: string;
  /** Bytes of file content. */
  size: number;
  /** Whiteouts and opaque dirs (relative paths), for the vfs driver. */
  whiteouts: string[];
  opaques: string[];
}

const TMP_PREFIX = ".tmp-";

/** The directory of unpacked layers. */
export class LayerStore {
  #dir: string;
  #inflight = new Map<string, Promise<LayerRecord>>();

  /** @param dir `<images>/layers`. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Creates the directory and removes half-built layers left by a crash. */
  async init(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    for await (const e of Deno.readDir(this.#dir)) {
      if (e.name.startsWith(TMP_PREFIX)) {
        await Deno.remove(`${this.#dir}/${e.name}`, { recursive: true });
      }
    }
  }

  /** The diff directory of a layer. */
  diffDir(chainId: string): string {
    return `${this.#dir}/${digestHex(chainId)}/diff`;
  }

  /** The record of a stored layer, or undefined. */
  async get(chainId: string): Promise<LayerRecord | undefined> {
    try {
      const text = await Deno.readTextFile(`${this.#dir}/${digestHex(chainId)}/layer.json`);
      return JSON.parse(text) as LayerRecord;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw err;
    }
  }

  /**
   * Returns the stored layer or builds it with `build`, which fills the given diff dir.
   * Concurrent calls for the same chain ID share one build; should it fail (the pull that
   * began it was cancelled, or could not download the layer), a call that waited on it builds
   * the layer with its own `build`.
   *
   * @param chainId The layer's chain ID.
   * @param build Fills `diffDir` and returns the record fields.
   * @param signal This caller's: aborted, it does not build again after a shared build failed.
   */
  async getOrCreate(
    chainId: string,
    build: (diffDir: string) => Promise<Omit<LayerRecord, "chainId">>,
    signal?: AbortSignal,
  ): Promise<LayerRecord> {
    return await sharedWork(this.#inflight, chainId, async () => {
      const have = await this.get(chainId);
      if (have) return have;
      const hex = digestHex(chainId);
      const tmp = `${this.#dir}/${TMP_PREFIX}${hex}-${crypto.randomUUID()}`;
      try {
        await Deno.mkdir(`${tmp}/diff`, { recursive: true, mode: 0o755 });
        const rec: LayerRecord = { chainId, ...(await build(`${tmp}/diff`)) };
        await Deno.writeTextFile(`${tmp}/layer.json`, JSON.stringify(rec));
        await Deno.rename(tmp, `${this.#dir}/${hex}`);
        return rec;
      } catch (err) {
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
        throw err;
      }
    }, { signal });
  }

  /** Deletes a layer; absent is fine. */
  async remove(chainId: string): Promise<void> {
    const dir = `${this.#dir}/${digestHex(chainId)}`;
    // Rename first so a crash never leaves a layer.json beside a half-deleted diff.
    const doomed = `${this.#dir}/${TMP_PREFIX}rm-${crypto.randomUUID()}`;
    try {
      await Deno.rename(dir, doomed);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    await Deno.remove(doomed, { recursive: true });
  }

  /** Chain IDs of all stored layers. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    for await (const e of Deno.readDir(this.#dir)) {
      if (!e.name.startsWith(TMP_PREFIX)) out.push(`sha256:${e.name}`);
    }
    return out;
  }
}
