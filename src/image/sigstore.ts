/**
 * Sigstore signatures as cosign keeps them in a registry, and the check of a pull against the
 * node's signature policy (`./signature_policy.ts`).
 *
 * cosign keeps the signatures of manifest `sha256:<hex>` in the image's repository under the tag
 * `sha256-<hex>.sig`: an OCI manifest whose layers are the signed payloads, each with its
 * signature (base64) in the annotation `dev.cosignproject.cosign/signature`. A payload is JSON:
 * `{"critical": {"identity": {"docker-reference": ...}, "image": {"docker-manifest-digest": ...},
 * "type": "cosign container image signature"}, "optional": ...}`. As containers/image does, a
 * signature counts when it verifies with one of the requirement's keys, and only then is its
 * payload read: the digest it signs must be the digest the reference resolved to (the index of a
 * multi-platform image), and its identity must match the requirement's `signedIdentity`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { verify } from "node:crypto";
import { NotFoundError, SignatureValidationError } from "../errors.ts";
import { isObject } from "../json_shape.ts";
import { sha256Digest } from "./digest.ts";
import { formatReference, type ImageReference } from "./reference.ts";
import {
  identityMatches,
  policyFor,
  type Requirement,
  type SignaturePolicy,
} from "./signature_policy.ts";

/** One signature found for a manifest. */
export interface CosignSignature {
  /** The signed payload, as stored. */
  payload: Uint8Array;
  /** The signature over it, base64. */
  signature: string;
}

/** What signatures are read through: the pull's registry client. */
export interface SignatureSource {
  getManifest(repository: string, reference: string): Promise<{ bytes: Uint8Array }>;
  getBlob(repository: string, digest: string): Promise<ReadableStream<Uint8Array>>;
}

/** The most signatures read for one manifest. */
export const MAX_SIGNATURES = 32;
/** The largest payload read (cosign's are a few hundred bytes). */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
const PAYLOAD_TYPE = "cosign container image signature";

/**
 * The cosign signatures of manifest `digest` in `repository`; none when the registry has no
 * `sha256-<hex>.sig` tag.
 *
 * @throws {SignatureValidationError} When the signature manifest or a payload is malformed.
 * @throws {OcidError} As the source's reads do (the registry is unavailable, ...).
 */
export async function fetchCosignSignatures(
  source: SignatureSource,
  repository: string,
  digest: string,
): Promise<CosignSignature[]> {
  const tag = `${digest.replace(":", "-")}.sig`;
  let bytes: Uint8Array;
  try {
    bytes = (await source.getManifest(repository, tag)).bytes;
  } catch (err) {
    if (err instanceof NotFoundError) return [];
    throw err;
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new SignatureValidationError(`The signature manifest "${tag}" is not JSON`);
  }
  const layers = isObject(manifest) && Array.isArray(manifest["layers"]) ? manifest["layers"] : [];
  const out: CosignSignature[] = [];
  for (const layer of layers.slice(0, MAX_SIGNATURES)) {
    if (!isObject(layer) || typeof layer["digest"] !== "string") continue;
    const annotations = layer["annotations"];
    const signature = isObject(annotations) ? annotations[SIGNATURE_ANNOTATION] : undefined;
    if (typeof signature !== "string") continue;
    const payload = await readLimited(
      await source.getBlob(repository, layer["digest"]),
      MAX_PAYLOAD_BYTES,
    );
    if (payload === undefined || sha256Digest(payload) !== layer["digest"]) {
      throw new SignatureValidationError(
        `The signature payload "${layer["digest"]}" of "${tag}" is larger than ` +
          `${MAX_PAYLOAD_BYTES} bytes or does not match its digest`,
      );
    }
    out.push({ payload, signature });
  }
  return out;
}

/** The whole stream, or undefined (and the stream cancelled) past `limit` bytes. */
async function readLimited(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > limit) {
      await stream.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/**
 * Checks a pull, once the registry has named the digest the reference resolves to, given the
 * manifest's signatures (read only when a requirement needs them).
 *
 * @throws {SignatureValidationError} When a requirement is not met.
 */
export type SignatureCheck = (
  topDigest: string,
  signatures: () => Promise<CosignSignature[]>,
) => Promise<void>;

/**
 * The check of pulling `ref` under `policy`; undefined when the requirements that apply accept
 * any image.
 *
 * @throws {SignatureValidationError} At once when they refuse it whatever its signatures
 *   (`reject`, or a rule ocid cannot check).
 */
export function signatureCheck(
  policy: SignaturePolicy,
  ref: ImageReference,
): SignatureCheck | undefined {
  const { scope, requirements } = policyFor(policy, ref);
  const name = formatReference(ref);
  const where = `The signature policy "${policy.file}" (scope "${scope}")`;
  for (const r of requirements) {
    if (r.type === "reject") throw new SignatureValidationError(`${where} rejects "${name}"`);
    if (r.type === "unsupported") {
      throw new SignatureValidationError(`${where} cannot be checked for "${name}": ${r.why}`);
    }
  }
  const signed = requirements.filter((r) => r.type === "sigstoreSigned");
  if (signed.length === 0) return undefined;
  return async (topDigest, signatures) => {
    const found = await signatures();
    if (found.length === 0) {
      throw new SignatureValidationError(
        `${where} requires a sigstore signature of "${name}" (${topDigest}); the registry has none`,
      );
    }
    for (const r of signed) {
      const problems = new Set<string>();
      const valid = found.some((s) => {
        const problem = signatureProblem(r, s, ref, topDigest);
        if (problem !== undefined) problems.add(problem);
        return problem === undefined;
      });
      if (!valid) {
        throw new SignatureValidationError(
          `${where}: no signature of "${name}" (${topDigest}) is accepted: ` +
            [...problems].join("; "),
        );
      }
    }
  };
}

/** Why `sig` does not meet `r` for pulling `ref` at `topDigest`; undefined when it does. */
function signatureProblem(
  r: Extract<Requirement, { type: "sigstoreSigned" }>,
  sig: CosignSignature,
  ref: ImageReference,
  topDigest: string,
): string | undefined {
  const raw = Buffer.from(sig.signature, "base64");
  const verified = r.keys.some((key) => {
    try {
      return verify(key.asymmetricKeyType === "ed25519" ? null : "sha256", sig.payload, key, raw);
    } catch {
      return false; // a signature of the wrong shape for this key
    }
  });
  if (!verified) return "a signature does not verify with the policy's keys";
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder().decode(sig.payload));
  } catch {
    return "a signed payload is not JSON";
  }
  const critical = isObject(payload) ? payload["critical"] : undefined;
  if (!isObject(critical) || critical["type"] !== PAYLOAD_TYPE) {
    return `a signed payload is not a "${PAYLOAD_TYPE}"`;
  }
  const image = critical["image"];
  const digest = isObject(image) ? image["docker-manifest-digest"] : undefined;
  if (digest !== topDigest) return `a signature is for manifest ${String(digest)}`;
  const identity = critical["identity"];
  const claimed = isObject(identity) ? identity["docker-reference"] : undefined;
  if (typeof claimed !== "string" || !identityMatches(r.signedIdentity, ref, claimed)) {
    return `a signature's identity "${String(claimed)}" does not match ${r.signedIdentity.type}`;
  }
  return undefined;
}
