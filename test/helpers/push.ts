/**
 * Pushes blobs and manifests to a test registry on 127.0.0.1 through the distribution HTTP API,
 * byte for byte (skopeo may convert media types or compression; these tests need the exact
 * bytes they built).
 *
 * @module
 */
import type { Blob } from "./images.ts";

async function expectStatus(res: Response, want: number, what: string): Promise<void> {
  const body = await res.text();
  if (res.status !== want) throw new Error(`${what}: HTTP ${res.status}: ${body}`);
}

/**
 * Uploads a blob in one request (monolithic upload), unless the registry has it.
 *
 * @param host `127.0.0.1:<port>`.
 * @param repo Repository name.
 * @param blob The bytes and digest.
 */
export async function pushBlob(host: string, repo: string, blob: Blob): Promise<void> {
  const head = await fetch(`http://${host}/v2/${repo}/blobs/${blob.digest}`, { method: "HEAD" });
  await head.body?.cancel();
  if (head.status === 200) return;
  const post = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
  const location = post.headers.get("location");
  await expectStatus(post, 202, `Start upload of ${blob.digest}`);
  const url = new URL(location ?? "", `http://${host}`);
  url.searchParams.set("digest", blob.digest);
  const put = await fetch(url, {
    method: "PUT",
    body: blob.bytes as Uint8Array<ArrayBuffer>,
    headers: { "content-type": "application/octet-stream" },
  });
  await expectStatus(put, 201, `Upload of ${blob.digest}`);
}

/**
 * Puts a manifest or index under a tag or its digest, with its media type as content type.
 *
 * @param host `127.0.0.1:<port>`.
 * @param repo Repository name.
 * @param ref A tag or the manifest's digest.
 * @param manifest The manifest bytes and media type.
 */
export async function pushManifest(
  host: string,
  repo: string,
  ref: string,
  manifest: Blob,
): Promise<void> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    body: manifest.bytes as Uint8Array<ArrayBuffer>,
    headers: { "content-type": manifest.mediaType },
  });
  await expectStatus(res, 201, `Manifest ${repo}:${ref}`);
}

/**
 * Pushes an image: every blob (layers, config), then its manifest under `tag`.
 *
 * @param host `127.0.0.1:<port>`.
 * @param repo Repository name.
 * @param tag The tag (or the manifest's digest).
 * @param image The blobs and the manifest.
 */
export async function pushImage(
  host: string,
  repo: string,
  tag: string,
  image: { blobs: readonly Blob[]; manifest: Blob },
): Promise<void> {
  for (const b of image.blobs) await pushBlob(host, repo, b);
  await pushManifest(host, repo, tag, image.manifest);
}
