/**
 * Cosign-format image signatures for tests, made with node:crypto and pushed as cosign stores
 * them: an OCI manifest under the tag `sha256-<hex>.sig` whose layers are the signed payloads,
 * each with its base64 signature in the `dev.cosignproject.cosign/signature` annotation.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type KeyObject, sign } from "node:crypto";
import { digestOf } from "./images.ts";
import { pushBlob, pushManifest } from "./push.ts";

/** A payload and its signature, as `src/image/sigstore.ts` reads them. */
export interface TestSignature {
  payload: Uint8Array;
  signature: string;
}

/** The payload cosign signs for `digest` under the claimed `identity`. */
export function cosignPayload(
  identity: string,
  digest: string,
  type = "cosign container image signature",
): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({
    critical: {
      identity: { "docker-reference": identity },
      image: { "docker-manifest-digest": digest },
      type,
    },
    optional: null,
  }));
}

/** Signs `payload` with `key` as cosign does (SHA-256; Ed25519 signs the bytes). */
export function cosignSign(key: KeyObject, payload: Uint8Array): TestSignature {
  const alg = key.asymmetricKeyType === "ed25519" ? null : "sha256";
  return { payload, signature: Buffer.from(sign(alg, payload, key)).toString("base64") };
}

/**
 * Pushes `signatures` as the cosign signatures of manifest `digest` of `repo`.
 *
 * @param host `127.0.0.1:<port>` of a test registry.
 */
export async function pushCosignSignatures(
  host: string,
  repo: string,
  digest: string,
  signatures: TestSignature[],
): Promise<void> {
  const config = new TextEncoder().encode("{}");
  const configBlob = { digest: digestOf(config), bytes: config, mediaType: "" };
  await pushBlob(host, repo, configBlob);
  const layers = [];
  for (const s of signatures) {
    const blob = { digest: digestOf(s.payload), bytes: s.payload, mediaType: "" };
    await pushBlob(host, repo, blob);
    layers.push({
      mediaType: "application/vnd.dev.cosign.simplesigning.v1+json",
      size: s.payload.length,
      digest: blob.digest,
      annotations: { "dev.cosignproject.cosign/signature": s.signature },
    });
  }
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const manifest = new TextEncoder().encode(JSON.stringify({
    schemaVersion: 2,
    mediaType,
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      size: config.length,
      digest: configBlob.digest,
    },
    layers,
  }));
  await pushManifest(host, repo, `${digest.replace(":", "-")}.sig`, {
    digest: digestOf(manifest),
    bytes: manifest,
    mediaType,
  });
}

/** The digest the registry's `repo:tag` resolves to (the bytes it serves, hashed). */
export async function manifestDigest(host: string, repo: string, tag: string): Promise<string> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, {
    headers: {
      accept: [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
      ].join(", "),
    },
  });
  if (!res.ok) throw new Error(`GET ${repo}:${tag}: HTTP ${res.status}`);
  return digestOf(new Uint8Array(await res.arrayBuffer()));
}
