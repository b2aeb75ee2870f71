/**
 * sha256 digests: computing them over bytes and streams, and the OCI chain ID.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { InvalidArgumentError } from "../errors.ts";

/** `sha256:<hex>` of some bytes or a string. */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** An incremental sha256 that reports `sha256:<hex>`. */
export class Digester {
  #hash: Hash = createHash("sha256");
  #bytes = 0;
  /** Adds a chunk. */
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#bytes += chunk.byteLength;
  }
  /** Bytes hashed so far. */
  get bytes(): number {
    return this.#bytes;
  }
  /** The final `sha256:<hex>`; call once. */
  digest(): string {
    return `sha256:${this.#hash.digest("hex")}`;
  }
}

/**
 * The hex part of a `sha256:<hex>` digest.
 *
 * @throws {InvalidArgumentError} When the digest is not a sha256 digest.
 */
export function digestHex(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) {
    throw new InvalidArgumentError(`Unsupported digest "${digest}": only sha256 is supported`);
  }
  return m[1]!;
}

/**
 * OCI chain IDs of a list of diff IDs: `chain[0] = diff[0]`,
 * `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : sha256Digest(`${prev} ${d}`));
  }
  return out;
}
