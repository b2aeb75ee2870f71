/**
 * Fetches an image from one registry endpoint into the stores: the manifest (through an index
 * to this platform's), the config blob, and each layer, downloaded into the blob store,
 * decompressed, checked against its diff ID and applied to its own layer directory. The image
 * record is {@linkcode ImageService}'s to write.
 *
 * `ImageService` imports this module on the first pull, not at start: an idle node does not hold
 * the registry client, the decompression and the tar reader (`tar-stream`). Measured here: about
 * 0.5 MiB less RSS for an idle daemon (median of 7 starts); the first pull waits 5 to 10 ms for
 * the import, once.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { crashMidStream, crashPoint } from "../crash.ts";
import { OcidError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Runner } from "../process.ts";
import type { RegistryAuth } from "./auth.ts";
import { type BlobStore, DigestMismatchError } from "./blob_store.ts";
import { decompressLayer } from "./decompress.ts";
import { chainIds, Digester, sha256Digest } from "./digest.ts";
import { applyLayer } from "./layer_apply.ts";
import type { LayerStore } from "./layer_store.ts";
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  layerCompression,
  parseImageConfig,
  parseManifest,
  type Platform,
  selectPlatform,
} from "./manifest.ts";
import type { FetchFn } from "./progress.ts";
import { formatReference, type ImageReference, manifestRef } from "./reference.ts";
import type { Endpoint } from "./registries_conf.ts";
import { RegistryClient } from "./registry_client.ts";
import { fetchCosignSignatures, type SignatureCheck } from "./sigstore.ts";
import { Limiter } from "../limit.ts";
import { sharedWork } from "./shared_work.ts";

/** What a pull uses of the image service. */
export interface PullDeps {
  config: Pick<Config, "image">;
  runner: Runner;
  log: Logger;
  blobs: BlobStore;
  layers: LayerStore;
  /** Blob downloads in progress by digest, shared by concurrent pulls. */
  blobsInFlight: Map<string, Promise<void>>;
  /** How many pulls still mean to unpack each layer blob, by digest, shared by the pulls. */
  blobClaims: Map<string, number>;
  /**
   * Keeps the layers of the image (chain IDs, bottom first) from removal until its record is
   * stored: a layer found stored (another image's) is used as it is. Called before any layer
   * is looked for. @default none
   */
  holdLayers?: (chain: readonly string[]) => Promise<void>;
  fetch?: FetchFn | undefined;
  /** The platform to pull. @default this machine */
  platform?: Platform | undefined;
}

/** Options of {@linkcode fetchImage}. */
export interface FetchImageOptions {
  auth?: RegistryAuth | undefined;
  signal?: AbortSignal | undefined;
  /** The signature policy's check, run once the manifest's digest is known. */
  verify?: SignatureCheck | undefined;
}

/** An image whose config and layers are stored; its manifests are not stored yet. */
export interface FetchedImage {
  /** Digest of the manifest or index the reference names. */
  topDigest: string;
  /** Digest of the image manifest (the platform's, through an index). */
  manifestDigest: string;
  /** The manifest and index bytes by digest, for the blob store. */
  manifestBlobs: [string, Uint8Array][];
  /** Digest of the config blob: the image id. */
  configDigest: string;
  config: ImageConfig;
  /** Chain IDs of the layers, bottom first. */
  chain: string[];
  /** Bytes of the unpacked layers. */
  size: number;
}

/**
 * Fetches an image's manifests, config and layers from one endpoint.
 *
 * @param deps The stores and how to reach the registry.
 * @param ref The image.
 * @param ep The registry and repository to pull from.
 * @param options Credentials, cancellation.
 * @returns What {@linkcode ImageService} records.
 * @throws {NotFoundError} When the registry does not have the image.
 * @throws {DigestMismatchError} When content does not match its digest.
 * @throws {OcidError} As {@linkcode ImageService.pull} documents.
 */
export async function fetchImage(
  deps: PullDeps,
  ref: ImageReference,
  ep: Endpoint,
  options: FetchImageOptions = {},
): Promise<FetchedImage> {
  const name = formatReference(ref);
  const client = new RegistryClient(ep.registry, {
    insecure: ep.insecure,
    auth: options.auth,
    progressTimeoutMs: deps.config.image.pullProgressTimeoutSeconds * 1000,
    signal: options.signal,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const top = await client.getManifest(ep.repository, manifestRef(ref));
  const topDigest = sha256Digest(top.bytes);
  if (ref.digest !== undefined && topDigest !== ref.digest) {
    throw new DigestMismatchError(
      `Manifest of "${name}" should have digest "${ref.digest}" but the registry sent "${topDigest}"`,
    );
  }
  // Before anything but the manifest is fetched (signatures are read only when needed).
  await options.verify?.(topDigest, () => fetchCosignSignatures(client, ep.repository, topDigest));
  let parsed = parseManifest(top.bytes, { contentType: top.contentType, name });
  const manifestBlobs: [string, Uint8Array][] = [[topDigest, top.bytes]];
  let manifestDigest = topDigest;
  if (parsed.kind === "index") {
    const desc = selectPlatform(parsed, {
      name,
      ...(deps.platform ? { platform: deps.platform } : {}),
    });
    const m = await client.getManifest(ep.repository, desc.digest);
    const got = sha256Digest(m.bytes);
    if (got !== desc.digest) {
      throw new DigestMismatchError(
        `Platform manifest of "${name}" should have digest "${desc.digest}" but the registry sent "${got}"`,
      );
    }
    parsed = parseManifest(m.bytes, { contentType: m.contentType ?? desc.mediaType, name });
    if (parsed.kind !== "manifest") {
      throw new OcidError("UNIMPLEMENTED", `Image "${name}" nests an index in an index`);
    }
    manifestBlobs.push([got, m.bytes]);
    manifestDigest = got;
  }
  const manifest: ImageManifest = parsed;
  // Config.
  const configDigest = manifest.config.digest;
  if (!(await deps.blobs.has(configDigest))) {
    await fetchBlob(deps, client, ep.repository, manifest.config, `Config of "${name}"`, {
      signal: options.signal,
    });
  }
  const config = parseImageConfig(await deps.blobs.read(configDigest), name);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new OcidError(
      "INVALID_ARGUMENT",
      `Image "${name}" has ${manifest.layers.length} layers but ${diffIds.length} diff IDs in its config`,
    );
  }
  const chain = chainIds(diffIds);
  await deps.holdLayers?.(chain);
  const layerWhat = (i: number) => `Layer ${i + 1}/${manifest.layers.length} of "${name}"`;
  const digestOf = (i: number) => manifest.layers[i]!.digest;
  // A layer blob is kept while some pull still means to unpack it: two images can hold the
  // same blob at different places (two layers, one download). Each pull claims the blobs of
  // the layers it may unpack, and the last to let go removes the blob.
  const claimed = new Set<number>();
  const claim = (i: number) => {
    if (claimed.has(i)) return;
    claimed.add(i);
    deps.blobClaims.set(digestOf(i), (deps.blobClaims.get(digestOf(i)) ?? 0) + 1);
  };
  const letGo = async (i: number) => {
    if (!claimed.delete(i)) return;
    const left = (deps.blobClaims.get(digestOf(i)) ?? 1) - 1;
    if (left > 0) return void deps.blobClaims.set(digestOf(i), left);
    deps.blobClaims.delete(digestOf(i));
    await deps.blobs.remove(digestOf(i));
  };
  // The downloads of the layers not stored yet run ahead of the unpacking, a few at once, so
  // that layer i+1 arrives while layer i is unpacked (containerd: max_concurrent_downloads, 3).
  const downloads = new Map<number, Promise<void>>();
  let givenUp = false;
  const limiter = new Limiter(deps.config.image.maxConcurrentDownloads);
  /** Lets go of every blob still claimed, once its download (if any) has ended. */
  const letGoOfAll = () =>
    Promise.all([...claimed].map(async (i) => {
      await downloads.get(i)?.catch(() => {});
      await letGo(i);
    }));
  let size = 0;
  try {
    for (let i = 0; i < manifest.layers.length; i++) {
      if (await deps.layers.get(chain[i]!)) continue;
      const desc = manifest.layers[i]!;
      claim(i);
      // A download that fails fails the pull: the downloads still queued are not begun (the
      // unpacking learns of the failure only when it reaches that layer).
      const download = limiter.run(() =>
        givenUp
          ? Promise.reject(new Error("The pull failed before this download began"))
          : fetchBlob(deps, client, ep.repository, desc, layerWhat(i), {
            layer: true,
            signal: options.signal,
          }).catch(
            (err) => {
              givenUp = true;
              throw err;
            },
          )
      );
      // Awaited by its layer's unpacking, or by letGoOfAll().
      download.catch(() => {});
      downloads.set(i, download);
    }
    // Layers, bottom first (each needs the ones below for hardlink copy-up).
    for (let i = 0; i < manifest.layers.length; i++) {
      size += (await unpackLayer(i)).size;
      crashPoint("image_pull:after_layer");
    }
  } catch (err) {
    // Downloads not begun are not begun; those under way end before the failure is reported.
    givenUp = true;
    await letGoOfAll();
    throw err;
  }
  // Claimed for a layer that another pull made meanwhile.
  await letGoOfAll();
  return { topDigest, manifestDigest, manifestBlobs, configDigest, config, chain, size };

  function unpackLayer(i: number) {
    const desc = manifest.layers[i]!;
    const chainId = chain[i]!;
    const lowerDirs = chain.slice(0, i).reverse().map((c) => deps.layers.diffDir(c));
    return deps.layers.getOrCreate(chainId, async (diffDir) => {
      const what = layerWhat(i);
      // Stored when the downloads began, removed since: downloaded now.
      claim(i);
      try {
        await (downloads.get(i) ??
          fetchBlob(deps, client, ep.repository, desc, what, {
            layer: true,
            signal: options.signal,
          }));
        crashPoint("image_pull:after_blob");
        return await unpack(deps, desc, diffDir, {
          diffId: diffIds[i]!,
          name: `${desc.digest}`,
          what,
          lowerDirs,
          ...(i > 0 ? { parent: chain[i - 1]! } : {}),
        });
      } finally {
        await letGo(i);
      }
    }, options.signal);
  }
}

/**
 * Downloads one blob into the blob store once, even when asked concurrently. A pull that finds
 * another's download of the blob under way waits for it; should that one fail (its pull was
 * cancelled, or its registry, mirror or credentials failed it), this pull downloads the blob
 * itself, through its own client.
 */
async function fetchBlob(
  deps: PullDeps,
  client: RegistryClient,
  repository: string,
  desc: Descriptor,
  what: string,
  options: { layer?: boolean; signal?: AbortSignal | undefined } = {},
): Promise<void> {
  await sharedWork(deps.blobsInFlight, desc.digest, async () => {
    let body = await client.getBlob(repository, desc.digest);
    if (options.layer) {
      body = body.pipeThrough(progressLogger(deps.log, { what, size: desc.size }));
      // Last in the chain, so that it pulls only when put() reads, which is after
      // put() has written the chunk before: the crash leaves bytes on disk.
      body = crashMidStream(body, "image_pull:mid_blob");
    }
    await deps.blobs.put(desc.digest, body, { size: desc.size, what });
  }, {
    signal: options.signal,
    onJoinedFailure: (err) =>
      deps.log.debug("Another pull's download of a blob failed; downloading it here", {
        what,
        digest: desc.digest,
        error: err as Error,
      }),
  });
}

async function unpack(
  deps: PullDeps,
  desc: Descriptor,
  diffDir: string,
  o: { diffId: string; name: string; what: string; lowerDirs: string[]; parent?: string },
) {
  const file = await Deno.open(deps.blobs.path(desc.digest));
  const decompressed = await decompressLayer(file.readable, o.name);
  let stream = decompressed.stream;
  const labelled = layerCompression(desc.mediaType);
  if (decompressed.compression !== labelled) {
    deps.log.info("Layer compression differs from its media type; using what the bytes say", {
      layer: o.what,
      mediaType: desc.mediaType,
      compression: decompressed.compression,
    });
  }
  const hasher = new Digester();
  stream = stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hasher.update(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  const applied = await applyLayer(stream, diffDir, {
    runner: deps.runner,
    logger: deps.log,
    name: o.name,
    lowerDirs: o.lowerDirs,
    // getOrCreate's dir: new, and written by this unpacking alone.
    emptyDir: true,
  });
  const got = hasher.digest();
  if (got !== o.diffId) {
    throw new DigestMismatchError(
      `${o.what}: uncompressed content has digest "${got}" but the config says "${o.diffId}"`,
    );
  }
  return {
    diffId: o.diffId,
    ...(o.parent ? { parent: o.parent } : {}),
    size: applied.size,
    whiteouts: applied.whiteouts,
    opaques: applied.opaques,
  };
}

/** How often a download in progress is logged. */
const PROGRESS_INTERVAL_MS = 5_000;

/**
 * Pull progress: a pass-through stream that logs a layer's bytes received at the start, every
 * few seconds while it downloads, and at the end.
 */
function progressLogger(
  log: Logger,
  blob: { what: string; size: number },
): TransformStream<Uint8Array, Uint8Array> {
  const mib = (n: number) => (n / (1 << 20)).toFixed(1);
  let received = 0;
  let last = performance.now();
  const started = last;
  return new TransformStream({
    start() {
      log.info("Downloading", { layer: blob.what, mib: mib(blob.size) });
    },
    transform(chunk, controller) {
      received += chunk.length;
      const now = performance.now();
      if (now - last >= PROGRESS_INTERVAL_MS) {
        last = now;
        log.info("Download progress", {
          layer: blob.what,
          received: `${mib(received)}/${mib(blob.size)} MiB`,
        });
      }
      controller.enqueue(chunk);
    },
    flush() {
      log.info("Downloaded", {
        layer: blob.what,
        mib: mib(received),
        ms: (performance.now() - started).toFixed(0),
      });
    },
  });
}
