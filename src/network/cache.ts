/**
 * The CNI result cache: what ADD returned, with the exact configuration list used, so that
 * DEL can run with the same plugins and `prevResult` even after the config changed or the
 * daemon restarted. One JSON file per pod sandbox, written atomically (temp file + rename).
 *
 * The daemon is the only writer, so what it wrote is also kept in memory and answered from
 * there: StopPodSandbox's DEL reads no file (0.3 to 2.5 ms here on the stop's critical path,
 * before the plugin could start); a restarted daemon reads the files. The files are not
 * fsynced, as libcni writes its own cache (`os.WriteFile`): a process crash keeps them (the
 * page cache has them), and after a power loss, which ends every pod anyway, a missing or torn
 * file makes DEL fall back to the current config, as for a pod whose ADD never finished. Two
 * fsyncs (file and dir) cost about 1.5 ms of every RunPodSandbox here.
 *
 * @module
 */
import { join } from "node:path";
import { InvalidArgumentError } from "../errors.ts";
import { writeFileAtomic } from "../store/atomic.ts";

/** One network attached to a pod: the list used and the ADD result. */
export interface CachedAttachment {
  /** The network name. */
  network: string;
  /** `CNI_IFNAME` used on ADD. */
  ifName: string;
  /** The configuration list as it was on ADD (parsed JSON). */
  config: Record<string, unknown>;
  /** The path of the file the list came from (informational). */
  configPath: string;
  /** The result of the last plugin on ADD. */
  result: unknown;
  /** The capability args (`runtimeConfig`, e.g. portMappings) given on ADD; DEL needs them. */
  capabilityArgs?: Record<string, unknown>;
}

/** The cache entry of one pod sandbox. */
export interface CacheEntry {
  /** The pod sandbox ID. */
  id: string;
  /** The `CNI_NETNS` used on ADD. */
  netns: string;
  /** Attachments in ADD order. */
  attachments: CachedAttachment[];
}

/** Stores ADD results per pod sandbox ID. */
export interface ResultCache {
  /**
   * The entry of `id`, or undefined when there is none (or it is unreadable). The entry is
   * shared with the cache: do not change it.
   */
  get(id: string): Promise<CacheEntry | undefined>;
  /** Writes the entry of `entry.id` atomically. */
  put(entry: CacheEntry): Promise<void>;
  /** Removes the entry of `id`; no error when there is none. */
  remove(id: string): Promise<void>;
}

const FORMAT = "ocid-cni-cache/v1";

/**
 * Creates the default cache: `<dir>/<id>.json`.
 *
 * @param dir The cache dir, e.g. `<root>/cni-cache`; created on first write.
 */
export function createFileResultCache(dir: string): ResultCache {
  return new FileResultCache(dir);
}

class FileResultCache implements ResultCache {
  #dir: string;
  /** What this daemon wrote, by pod sandbox ID; the file says the same. */
  #entries = new Map<string, CacheEntry>();
  #dirMade = false;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async get(id: string): Promise<CacheEntry | undefined> {
    const known = this.#entries.get(id);
    if (known) return known;
    const path = this.#path(id);
    let raw: string;
    try {
      raw = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
    try {
      const parsed = JSON.parse(raw) as { format?: unknown } & Partial<CacheEntry>;
      if (parsed.format !== FORMAT || !Array.isArray(parsed.attachments)) return undefined;
      return { id, netns: String(parsed.netns ?? ""), attachments: parsed.attachments };
    } catch {
      // A torn or foreign file: treat as missing; DEL falls back to the current config.
      return undefined;
    }
  }

  async put(entry: CacheEntry): Promise<void> {
    const path = this.#path(entry.id);
    const json = JSON.stringify({ format: FORMAT, ...entry });
    if (!this.#dirMade) await this.#makeDir();
    try {
      await writeFileAtomic(path, json, { sync: "none" });
    } catch (e) {
      // The dir went away after it was made (removed by hand): make it again, once.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      await this.#makeDir();
      await writeFileAtomic(path, json, { sync: "none" });
    }
    this.#entries.set(entry.id, entry);
  }

  async remove(id: string): Promise<void> {
    try {
      await Deno.remove(this.#path(id));
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    this.#entries.delete(id);
  }

  async #makeDir(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    this.#dirMade = true;
  }

  #path(id: string): string {
    if (id === "" || id.includes("/") || id === "." || id === "..") {
      throw new InvalidArgumentError(`Invalid pod sandbox ID "${id}" for the CNI cache`);
    }
    return join(this.#dir, `${id}.json`);
  }
}
