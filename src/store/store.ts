/**
 * A persistent store of records `{id, name, metadata, status}`: immutable metadata, mutable
 * status, one JSON checkpoint per record at `<dir>/<id>/<file>`.
 *
 * - Lookups are synchronous, from memory: a Map by full ID, an {@linkcode IdIndex} for
 *   prefixes, a {@linkcode NameRegistry} for names.
 * - Every change is one transaction: the record is serialised, written atomically, and only
 *   then replaces the in-memory record. A failed write leaves memory as it was.
 * - Updates (and the delete) of one record run one after another, in call order.
 * - Records handed out are deeply frozen and equal to what {@linkcode RecordStore.load} would
 *   read back (they are parsed from the JSON that was written). Change a status only through
 *   {@linkcode RecordStore.update}, returning a new object: `(s) => ({ ...s, pid: 42 })`.
 *
 * @module
 */
import { isObject } from "../json_shape.ts";
import { join } from "node:path";
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../errors.ts";
import { type Logger, nullLogger } from "../log.ts";
import { writeFileAtomic, type WriteFileAtomicOptions } from "./atomic.ts";
import { IdIndex } from "./id_index.ts";
import { NameRegistry } from "./name_registry.ts";

/** One stored record. `metadata` never changes; `status` changes through `update`. */
export interface StoreRecord<M, S> {
  /** Full ID; also the record's directory name. */
  readonly id: string;
  /** Unique name (reserved while the record exists). */
  readonly name: string;
  /** Set once by `add`. */
  readonly metadata: Readonly<M>;
  /** Replaced by `update`. */
  readonly status: Readonly<S>;
}

/** The file operations of a store; tests pass a fake that fails on demand. */
export interface RecordFs {
  /** Creates a directory and its parents; no error when it exists. */
  mkdir(path: string): Promise<void>;
  /** Replaces a file's content atomically (see `writeFileAtomic`, whose options it takes). */
  writeFileAtomic(path: string, data: string, options?: WriteFileAtomicOptions): Promise<void>;
  /** Reads a text file. Throws `Deno.errors.NotFound` when missing. */
  readTextFile(path: string): Promise<string>;
  /** Names of the subdirectories of a directory. Throws `Deno.errors.NotFound` when missing. */
  readDirNames(path: string): Promise<string[]>;
  /** Names of the files in a directory. */
  readFileNames(path: string): Promise<string[]>;
  /** Removes a file or an empty directory. Throws `Deno.errors.NotFound` when missing. */
  remove(path: string): Promise<void>;
}

/** The real file system. */
export const denoRecordFs: RecordFs = {
  mkdir: (path) => Deno.mkdir(path, { recursive: true, mode: 0o700 }),
  writeFileAtomic: (path, data, options) => writeFileAtomic(path, data, options),
  readTextFile: (path) => Deno.readTextFile(path),
  async readDirNames(path) {
    const names: string[] = [];
    for await (const e of Deno.readDir(path)) if (e.isDirectory) names.push(e.name);
    return names;
  },
  async readFileNames(path) {
    const names: string[] = [];
    for await (const e of Deno.readDir(path)) if (e.isFile) names.push(e.name);
    return names;
  },
  remove: (path) => Deno.remove(path),
};

/** A record file that {@linkcode RecordStore.load} skipped, and why. */
export interface SkippedRecord {
  /** The directory name (the ID, if the record was sound). */
  id: string;
  /** The record file. */
  path: string;
  /** Why it was skipped. */
  reason: string;
}

/** What {@linkcode RecordStore.load} found. */
export interface LoadReport {
  /** IDs of the records loaded. */
  loaded: string[];
  /** Records left out, with reasons. */
  skipped: SkippedRecord[];
}

/** Metadata and status read from disk, before they are trusted. */
export interface RawRecord {
  /** The record's ID (equal to its directory name). */
  id: string;
  /** The record's name. */
  name: string;
  /** Metadata as parsed from JSON. */
  metadata: unknown;
  /** Status as parsed from JSON. */
  status: unknown;
}

/** Options of {@linkcode RecordStore}. */
export interface RecordStoreOptions<M, S> {
  /** What the records are, for messages: "container", "pod sandbox". */
  kind: string;
  /** File name of each record inside `<dir>/<id>/`: "container.json". */
  file: string;
  /**
   * Checks (and may migrate) a record read from disk; throw to skip it as corrupt.
   * @default accepts any object metadata and status
   */
  validate?: (raw: RawRecord) => { metadata: M; status: S };
  /** File operations. @default denoRecordFs */
  fs?: RecordFs;
  /** Where skipped records are reported. @default nullLogger */
  /** Where skipped records are reported. @default nullLogger */
  logger?: Logger;
}

/** Version of the record file format, written as `"version"`. */
export const RECORD_VERSION = 1;

/** IDs become directory names: no slashes, no dot files. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A persistent, in-memory-indexed store of records with immutable metadata. */
export class RecordStore<M, S> {
  #dir: string;
  #kind: string;
  #file: string;
  #fs: RecordFs;
  #logger: Logger;
  #validate: (raw: RawRecord) => { metadata: M; status: S };
  #records = new Map<string, StoreRecord<M, S>>();
  #index: IdIndex;
  #names: NameRegistry;
  /** IDs being added (written but not yet visible). */
  #pending = new Set<string>();
  /** Tail of each record's queue of updates and deletes. */
  #queues = new Map<string, Promise<void>>();

  /**
   * @param dir the directory holding one subdirectory per record; created on first add
   * @param options kind, file name, validation and fakes
   */
  /** Creates an empty store; call `load()` to read what is on disk. */
  constructor(dir: string, options: RecordStoreOptions<M, S>) {
    this.#dir = dir;
    this.#kind = options.kind;
    this.#file = options.file;
    this.#fs = options.fs ?? denoRecordFs;
    this.#logger = options.logger ?? nullLogger;
    this.#validate = options.validate ?? ((raw) => {
      if (!isObject(raw.metadata)) throw new TypeError("metadata is not an object");
      if (!isObject(raw.status)) throw new TypeError("status is not an object");
      return { metadata: raw.metadata as M, status: raw.status as S };
    });
    this.#index = new IdIndex({ kind: options.kind });
    this.#names = new NameRegistry({ kind: options.kind });
  }

  /** The store's directory. */
  get dir(): string {
    return this.#dir;
  }

  /** Number of records. */
  get size(): number {
    return this.#records.size;
  }

  /** Directory of one record: `<dir>/<id>`. Other modules may keep their files there too. */
  recordDir(id: string): string {
    return join(this.#dir, id);
  }

  /** Path of one record's JSON file. */
  recordPath(id: string): string {
    return join(this.#dir, id, this.#file);
  }

  #serialize(record: StoreRecord<M, S>): string {
    return JSON.stringify({
      version: RECORD_VERSION,
      id: record.id,
      name: record.name,
      metadata: record.metadata,
      status: record.status,
    });
  }

  /** Builds the in-memory record from the written JSON, so memory equals disk. */
  #fromJson(json: string): StoreRecord<M, S> {
    const { id, name, metadata, status } = JSON.parse(json);
    return deepFreeze({ id, name, metadata, status });
  }

  /**
   * Adds a record and writes it to `<dir>/<id>/<file>`.
   *
   * @returns the stored (frozen) record
   * @throws {InvalidArgumentError} when the ID cannot be a directory name or the name is empty
   * @throws {AlreadyExistsError} when the ID exists or the name is reserved by another record
   * @throws the write error; then nothing is added and the name is free again
   */
  async add(record: StoreRecord<M, S>): Promise<StoreRecord<M, S>> {
    const { id, name } = record;
    if (!SAFE_ID.test(id)) {
      throw new InvalidArgumentError(
        `Invalid ${this.#kind} ID "${id}": use letters, digits, "_", "." and "-"`,
      );
    }
    if (this.#records.has(id) || this.#pending.has(id)) {
      throw new AlreadyExistsError(`The ${this.#kind} ID "${id}" is already in use`);
    }
    this.#names.reserve(name, id);
    this.#pending.add(id);
    try {
      const json = this.#serialize(record);
      await this.#fs.mkdir(this.recordDir(id));
      await this.#fs.writeFileAtomic(this.recordPath(id), json);
      const stored = this.#fromJson(json);
      this.#index.add(id);
      this.#records.set(id, stored);
      return stored;
    } catch (err) {
      this.#names.releaseByKey(id);
      throw err;
    } finally {
      this.#pending.delete(id);
    }
  }

  /**
   * Finds a record by full ID or unique ID prefix.
   *
   * @throws {NotFoundError} `Cannot find container "ab"`
   * @throws {InvalidArgumentError} when the prefix is empty or ambiguous
   */
  get(idOrPrefix: string): StoreRecord<M, S> {
    const record = this.#records.get(this.#index.get(idOrPrefix));
    if (!record) throw new NotFoundError(`Cannot find ${this.#kind} "${idOrPrefix}"`);
    return record;
  }

  /**
   * Like {@linkcode RecordStore.get} but returns undefined when nothing matches (for
   * idempotent Stop and Remove). An ambiguous prefix still throws.
   */
  find(idOrPrefix: string): StoreRecord<M, S> | undefined {
    try {
      return this.get(idOrPrefix);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** Tells whether a record with this full ID exists (no prefix matching). */
  has(id: string): boolean {
    return this.#records.has(id);
  }

  /**
   * Reserves a name for an ID before the record exists, so a slow create can fail fast on a
   * duplicate. `add` with the same name and ID then succeeds; a failed `add` frees it.
   *
   * @throws {AlreadyExistsError} naming the ID that holds the name
   */
  reserveName(name: string, id: string): void {
    this.#names.reserve(name, id);
  }

  /**
   * Whether an ID holds a name but has no record yet: its create is under way (from
   * {@linkcode RecordStore.reserveName} until the record is stored or the name is released).
   */
  inCreation(id: string): boolean {
    return !this.#records.has(id) && this.#names.holds(id);
  }

  /** Frees a name reserved with {@linkcode RecordStore.reserveName} whose record never came. */
  releaseName(name: string): void {
    const holder = this.#names.get(name);
    if (holder !== undefined && this.#records.has(holder)) return; // a stored record keeps it
    this.#names.release(name);
  }

  /** The record holding a name, if any. */
  getByName(name: string): StoreRecord<M, S> | undefined {
    const id = this.#names.get(name);
    return id === undefined ? undefined : this.#records.get(id);
  }

  /** All records, in no particular order. */
  list(): StoreRecord<M, S>[] {
    return [...this.#records.values()];
  }

  /** Runs `op` after every earlier queued operation on the same ID has settled. */
  #enqueue<T>(id: string, op: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(id) ?? Promise.resolve();
    const result = previous.then(op);
    const tail = result.then(() => {}, () => {});
    this.#queues.set(id, tail);
    void tail.then(() => {
      if (this.#queues.get(id) === tail) this.#queues.delete(id);
    });
    return result;
  }

  /**
   * Changes a record's status as one transaction: `fn` computes the new status from the
   * current one, the record is written atomically, and only then does memory change. Updates
   * of one record run in call order, each seeing the result of the one before.
   *
   * @param idOrPrefix full ID or unique prefix, resolved when called
   * @param fn returns the new status; it gets the current (frozen) status and the record.
   *   Throw from it (e.g. FailedPreconditionError) to abort without change; return the current
   *   status itself to change nothing (then nothing is written)
   * @returns the updated record
   * @throws {NotFoundError} when the record does not exist or was deleted meanwhile
   * @throws what `fn` or the write throws; the status is then unchanged
   */
  update(
    idOrPrefix: string,
    fn: (status: Readonly<S>, record: StoreRecord<M, S>) => S,
  ): Promise<StoreRecord<M, S>> {
    let id: string;
    try {
      id = this.get(idOrPrefix).id;
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#enqueue(id, async () => {
      const current = this.#records.get(id);
      if (!current) throw new NotFoundError(`Cannot find ${this.#kind} "${id}"`);
      const status = fn(current.status, current);
      if (status === current.status) return current;
      const next = { ...current, status };
      const json = this.#serialize(next);
      // The old record is a valid state too (recovery reconciles it with the runtime, as after a
      // crash just before this write): a power loss may bring it back, so the rename need not
      // be flushed, only the content (as CRI-O writes container state).
      await this.#fs.writeFileAtomic(this.recordPath(id), json, { sync: "content" });
      const stored = this.#fromJson(json);
      this.#records.set(id, stored);
      return stored;
    });
  }

  /**
   * Deletes a record: removes its file and, when empty, its directory, then forgets it and
   * frees its name. Runs after pending updates of the record. Deleting a missing record does
   * nothing.
   *
   * @param idOrPrefix full ID or unique prefix
   * @throws {InvalidArgumentError} when the prefix is ambiguous
   * @throws the removal error; the record then stays
   */
  async delete(idOrPrefix: string): Promise<void> {
    const found = this.find(idOrPrefix);
    if (!found) return;
    const id = found.id;
    await this.#enqueue(id, async () => {
      if (!this.#records.has(id)) return;
      try {
        await this.#fs.remove(this.recordPath(id));
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      // A write cut short by a crash leaves its temp file (`.<file>.<n>.tmp`); no write of
      // this record is in flight now (the queue), so any such file is stale.
      const dir = this.recordDir(id);
      const temp = `.${this.#file}.`;
      for (const name of await this.#fs.readFileNames(dir).catch(() => [] as string[])) {
        if (name.startsWith(temp) && name.endsWith(".tmp")) {
          await this.#fs.remove(join(dir, name)).catch(() => {});
        }
      }
      try {
        await this.#fs.remove(dir);
      } catch (err) {
        // Other modules may keep files in the record's directory; they remove them.
        if (!(err instanceof Deno.errors.NotFound)) {
          this.#logger.debug("Record directory left in place", {
            kind: this.#kind,
            id,
            error: errText(err),
          });
        }
      }
      this.#records.delete(id);
      this.#index.delete(id);
      this.#names.releaseByKey(id);
    });
  }

  /**
   * Reads every record under the store's directory (at start-up). Records that cannot be
   * read, parsed or validated, or that clash with a loaded one, are skipped, logged at warn
   * and listed in the report; their files stay for inspection.
   *
   * @returns the loaded IDs and the skipped records with reasons
   * @throws only when the directory exists but cannot be listed
   */
  async load(): Promise<LoadReport> {
    const report: LoadReport = { loaded: [], skipped: [] };
    let names: string[];
    try {
      names = await this.#fs.readDirNames(this.#dir);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return report;
      throw err;
    }
    for (const dirName of names.sort()) {
      if (dirName.startsWith(".")) continue;
      const path = this.recordPath(dirName);
      try {
        this.#loadOne(dirName, await this.#fs.readTextFile(path));
        report.loaded.push(dirName);
      } catch (err) {
        const reason = err instanceof Deno.errors.NotFound ? "record file missing" : errText(err);
        report.skipped.push({ id: dirName, path, reason });
        this.#logger.warn(`Skipping a ${this.#kind} record that cannot be loaded`, {
          path,
          reason,
        });
      }
    }
    return report;
  }

  #loadOne(dirName: string, text: string): void {
    const raw: unknown = JSON.parse(text);
    if (!isObject(raw)) throw new TypeError("the record is not a JSON object");
    if (raw.version !== RECORD_VERSION) {
      throw new TypeError(`unknown record version ${JSON.stringify(raw.version)}`);
    }
    const { id, name } = raw;
    if (id !== dirName) {
      throw new TypeError(`the record's ID ${JSON.stringify(id)} is not its directory name`);
    }
    if (typeof name !== "string" || name === "") throw new TypeError("the record has no name");
    if (this.#records.has(id)) throw new AlreadyExistsError(`"${id}" is already loaded`);
    const { metadata, status } = this.#validate({
      id,
      name,
      metadata: raw.metadata,
      status: raw.status,
    });
    this.#names.reserve(name, id);
    this.#index.add(id);
    this.#records.set(id, this.#fromJson(JSON.stringify({ id, name, metadata, status })));
  }
}
