/**
 * Single-use tokens for streaming requests, as in kubelet's request cache: the RPC stores the
 * validated request under a random token and returns a URL holding it; the HTTP server takes
 * the request out once. A token expires after a minute; at most 1000 wait at a time.
 *
 * @module
 */
import { OcidError } from "../errors.ts";

/** How long a token stays valid. */
export const TOKEN_TTL_MS = 60_000;
/** How many unused tokens may wait at once. */
export const MAX_PENDING_TOKENS = 1000;

/** Options of {@linkcode TokenCache}. */
export interface TokenCacheOptions {
  /** @default TOKEN_TTL_MS */
  ttlMs?: number;
  /** @default MAX_PENDING_TOKENS */
  maxPending?: number;
  /** The clock, in milliseconds. @default Date.now */
  now?: () => number;
  /** Random bytes for tokens. @default crypto.getRandomValues */
  random?: (bytes: Uint8Array) => void;
}

/** Requests waiting for their HTTP connection, by token. */
export class TokenCache<T> {
  #entries = new Map<string, { value: T; expires: number }>();
  #ttlMs: number;
  #maxPending: number;
  #now: () => number;
  #random: (bytes: Uint8Array) => void;

  constructor(options: TokenCacheOptions = {}) {
    this.#ttlMs = options.ttlMs ?? TOKEN_TTL_MS;
    this.#maxPending = options.maxPending ?? MAX_PENDING_TOKENS;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? ((b) => crypto.getRandomValues(b));
  }

  /** Unexpired tokens waiting. */
  get size(): number {
    this.#prune();
    return this.#entries.size;
  }

  /**
   * Stores `value` under a new random token (URL-safe, 128 bits).
   *
   * @throws {OcidError} RESOURCE_EXHAUSTED when too many tokens wait.
   */
  insert(value: T): string {
    this.#prune();
    if (this.#entries.size >= this.#maxPending) {
      throw new OcidError(
        "RESOURCE_EXHAUSTED",
        `Too many streaming requests waiting (${this.#maxPending}); retry later`,
      );
    }
    let token: string;
    do {
      const bytes = new Uint8Array(16);
      this.#random(bytes);
      token = base64Url(bytes);
    } while (this.#entries.has(token));
    this.#entries.set(token, { value, expires: this.#now() + this.#ttlMs });
    return token;
  }

  /** Takes the request out: a token works once, and not after it expired. */
  consume(token: string): T | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    this.#entries.delete(token);
    return entry.expires > this.#now() ? entry.value : undefined;
  }

  #prune(): void {
    const now = this.#now();
    for (const [token, entry] of this.#entries) {
      if (entry.expires <= now) this.#entries.delete(token);
    }
  }
}

function base64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}
