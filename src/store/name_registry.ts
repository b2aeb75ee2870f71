/**
 * Names reserved by keys (a pod or container name reserved by its ID), so two objects never
 * share a name. Kubelet names are unique by construction (`k8s_<name>_<ns>_<uid>_<attempt>`);
 * a clash means a retry of a request that already succeeded or is still running.
 *
 * @module
 */
import { AlreadyExistsError, InvalidArgumentError } from "../errors.ts";

/** Options of {@linkcode NameRegistry}. */
export interface NameRegistryOptions {
  /** What holds the names, for messages: `pod sandbox`, `container`. @default "object" */
  kind?: string;
}

/** Maps names to the keys that reserved them. A key may hold several names. */
export class NameRegistry {
  #byName = new Map<string, string>();
  #byKey = new Map<string, Set<string>>();
  #kind: string;

  /** Creates an empty registry. */
  constructor(options: NameRegistryOptions = {}) {
    this.#kind = options.kind ?? "object";
  }

  /**
   * Reserves a name for a key. Reserving a name again for the same key does nothing.
   *
   * @throws {InvalidArgumentError} when the name or the key is empty
   * @throws {AlreadyExistsError} naming the key that holds the name
   */
  reserve(name: string, key: string): void {
    if (name === "") throw new InvalidArgumentError(`Cannot reserve an empty ${this.#kind} name`);
    if (key === "") {
      throw new InvalidArgumentError(
        `Cannot reserve the ${this.#kind} name "${name}" for an empty key`,
      );
    }
    const holder = this.#byName.get(name);
    if (holder === key) return;
    if (holder !== undefined) {
      throw new AlreadyExistsError(
        `The ${this.#kind} name "${name}" is already reserved for "${holder}"; ` +
          `remove ${this.#kind} "${holder}" to reuse the name`,
      );
    }
    this.#byName.set(name, key);
    let names = this.#byKey.get(key);
    if (!names) this.#byKey.set(key, names = new Set());
    names.add(name);
  }

  /** Releases a name, whoever holds it. Releasing a free name does nothing. */
  release(name: string): void {
    const key = this.#byName.get(name);
    if (key === undefined) return;
    this.#byName.delete(name);
    const names = this.#byKey.get(key);
    names?.delete(name);
    if (names?.size === 0) this.#byKey.delete(key);
  }

  /** Releases every name a key holds. */
  releaseByKey(key: string): void {
    for (const name of this.#byKey.get(key) ?? []) this.#byName.delete(name);
    this.#byKey.delete(key);
  }

  /** The key holding a name, or undefined when the name is free. */
  get(name: string): string | undefined {
    return this.#byName.get(name);
  }

  /** Whether a key holds any name. */
  holds(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** The names a key holds. */
  namesOf(key: string): string[] {
    return [...(this.#byKey.get(key) ?? [])];
  }
}
