/**
 * A set of IDs that resolves unique prefixes (`crictl stop 3f2a` -> the full 64-hex ID).
 *
 * IDs are kept in a sorted array: `get` is a binary search (O(log n)); `add`/`delete` shift
 * the array (O(n) memmove), which at 10,000 IDs is a few microseconds.
 *
 * An ambiguous prefix is an {@linkcode InvalidArgumentError}, not a NotFoundError: the ID
 * exists, the request just does not say which one. Reporting NOT_FOUND would be wrong and
 * harmful: kubelet and the handlers treat NOT_FOUND on Stop/Remove as "already gone" and
 * would report success without doing anything. containerd's truncindex returns its own
 * ambiguity error (which surfaces as UNKNOWN); INVALID_ARGUMENT says what to fix.
 *
 * @module
 */
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../errors.ts";

/** Options of {@linkcode IdIndex}. */
export interface IdIndexOptions {
  /** What the IDs name, for messages: `Cannot find container "ab"`. @default "ID" */
  kind?: string;
}

/** A sorted set of IDs with prefix lookup. */
export class IdIndex {
  #ids: string[] = [];
  #kind: string;

  /** Creates an empty index. */
  constructor(options: IdIndexOptions = {}) {
    this.#kind = options.kind ?? "ID";
  }

  /** Number of IDs. */
  get size(): number {
    return this.#ids.length;
  }

  /** First position whose ID is >= `s`. */
  #lowerBound(s: string): number {
    let lo = 0;
    let hi = this.#ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#ids[mid] as string) < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Adds an ID.
   *
   * @throws {InvalidArgumentError} when the ID is empty
   * @throws {AlreadyExistsError} when the ID is already there
   */
  add(id: string): void {
    if (id === "") throw new InvalidArgumentError(`Cannot add an empty ${this.#kind} ID`);
    const at = this.#lowerBound(id);
    if (this.#ids[at] === id) {
      throw new AlreadyExistsError(`The ${this.#kind} ID "${id}" is already in use`);
    }
    this.#ids.splice(at, 0, id);
  }

  /** Removes an ID (the full ID, not a prefix). @returns whether it was there */
  delete(id: string): boolean {
    const at = this.#lowerBound(id);
    if (this.#ids[at] !== id) return false;
    this.#ids.splice(at, 1);
    return true;
  }

  /** Tells whether the full ID is there. */
  has(id: string): boolean {
    return this.#ids[this.#lowerBound(id)] === id;
  }

  /**
   * Resolves a full ID or a unique prefix to the full ID. A full ID always resolves, even
   * when it is also the prefix of a longer ID.
   *
   * @throws {InvalidArgumentError} when the prefix is empty or matches more than one ID
   * @throws {NotFoundError} when no ID starts with the prefix
   */
  get(prefix: string): string {
    if (prefix === "") throw new InvalidArgumentError(`Empty ${this.#kind} ID`);
    const at = this.#lowerBound(prefix);
    const first = this.#ids[at];
    if (first === undefined || !first.startsWith(prefix)) {
      throw new NotFoundError(`Cannot find ${this.#kind} "${prefix}"`);
    }
    if (first === prefix) return first;
    const second = this.#ids[at + 1];
    if (second !== undefined && second.startsWith(prefix)) {
      throw new InvalidArgumentError(
        `Ambiguous ${this.#kind} ID prefix "${prefix}": it matches "${first}", "${second}"` +
          `${this.#countFrom(at, prefix) > 2 ? " and more" : ""}; give more characters`,
      );
    }
    return first;
  }

  #countFrom(at: number, prefix: string): number {
    let n = 0;
    while (n < 3 && this.#ids[at + n]?.startsWith(prefix)) n++;
    return n;
  }

  /** All IDs in sorted order (a copy). */
  list(): string[] {
    return [...this.#ids];
  }
}
