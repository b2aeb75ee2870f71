/**
 * The image service behind the CRI ImageService: pull, list, status, remove, filesystem
 * usage, and container root filesystems over the pulled layers.
 *
 * Storage under `<root>/images`: `blobs/sha256/<hex>` (manifests, indexes, configs; layer
 * blobs only while they are being unpacked), `layers/<chain hex>/diff`, `records/<id>.json`,
 * `tmp/`.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { crashMidStream, crashPoint } from "../crash.ts";
import { FailedPreconditionError, NotFoundError, OcidError } from "../errors.ts";
import { type Logger, nullLogger } from "../log.ts";
import type { Runner } from "../process.ts";
import type { RegistryAuth } from "./auth.ts";
import { BlobStore, DigestMismatchError } from "./blob_store.ts";
import { chainIds, Digester, sha256Digest } from "./digest.ts";
import { type ImageRecord, ImageStore } from "./image_store.ts";
import { decompressLayer } from "./decompress.ts";
import { applyLayer } from "./layer_apply.ts";
import { LayerStore } from "./layer_store.ts";
import {
  type Descriptor,
  type ImageManifest,
  layerCompression,
  parseImageConfig,
  parseManifest,
  type Platform,
  selectPlatform,
} from "./manifest.ts";
import type { FetchFn } from "./progress.ts";
import {
  formatReference,
  type ImageReference,
  isDigest,
  manifestRef,
  parseReference,
  repoName,
} from "./reference.ts";
import {
  type Endpoint,
  loadRegistriesConf,
  type RegistriesConf,
  resolveEndpoints,
} from "./registries_conf.ts";
import { RegistryClient } from "./registry_client.ts";
import { diskUsage, RootfsManager, type WritableLayerUsage } from "./rootfs.ts";

/** What the image service needs from the outside. */
export interface ImageServiceDeps {
  config: Pick<Config, "root" | "image">;
  runner: Runner;
  logger?: Logger;
  /** Whether a container uses the image (refuses removal). @default () => false */
  isInUse?: (imageId: string) => boolean | Promise<boolean>;
  fetch?: FetchFn;
  /** The platform to pull. @default this machine */
  platform?: Platform;
}

/** Options of {@linkcode ImageService.pull}. */
export interface PullOptions {
  auth?: RegistryAuth | undefined;
  signal?: AbortSignal | undefined;
  /** Mark the image pinned (never garbage collected). */
  pinned?: boolean;
}

/** Filter of {@linkcode ImageService.list}: an image reference, id or prefix. */
export interface ListFilter {
  image?: string;
}

/** Usage of the image store (CRI ImageFsInfo). */
export interface ImageFsUsage {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
  timestamp: number;
}

function parseUser(user: string | undefined): { uid?: number; username?: string } {
  if (!user) return {};
  const u = user.split(":")[0] ?? "";
  if (/^\d+$/.test(u)) return { uid: Number(u) };
  return u === "" ? {} : { username: u };
}

/** Pulls and stores images; mounts container root filesystems over them. */
export class ImageService {
  #deps: ImageServiceDeps;
  #log: Logger;
  #dir: string;
  #blobs: BlobStore;
  #layers: LayerStore;
  #images: ImageStore;
  #rootfs: RootfsManager;
  #registries: RegistriesConf = { registries: [] };
  #pulls = new Map<string, Promise<ImageRecord>>();
  #blobsInFlight = new Map<string, Promise<void>>();
  /** Serialises record updates and removals. */
  #lock: Promise<unknown> = Promise.resolve();

  private constructor(deps: ImageServiceDeps) {
    this.#deps = deps;
    this.#log = deps.logger ?? nullLogger;
    this.#dir = `${deps.config.root}/images`;
    this.#blobs = new BlobStore(`${this.#dir}/blobs`, `${this.#dir}/tmp`);
    this.#layers = new LayerStore(`${this.#dir}/layers`);
    this.#images = new ImageStore(`${this.#dir}/records`);
    this.#rootfs = new RootfsManager({
      dir: `${deps.config.root}/containers`,
      driver: deps.config.image.storageDriver,
      runner: deps.runner,
    });
  }

  /**
   * Opens the store: creates directories, removes temp leftovers, loads records and
   * registries.conf.
   */
  static async open(deps: ImageServiceDeps): Promise<ImageService> {
    const s = new ImageService(deps);
    await Deno.remove(`${s.#dir}/tmp`, { recursive: true }).catch(() => {});
    await s.#blobs.init();
    await s.#layers.init();
    await s.#images.load();
    await s.#collectGarbage();
    s.#registries = await loadRegistriesConf(deps.config.image.registriesConf);
    return s;
  }

  /** The images directory (`<root>/images`). */
  get directory(): string {
    return this.#dir;
  }

  async #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => {});
    return await run;
  }

  /**
   * Pulls an image; the same reference pulled concurrently is pulled once.
   *
   * @param ref The reference as given (`busybox`, `host:5000/a@sha256:…`).
   * @param options Credentials, cancellation, pinning.
   * @returns The stored image record.
   * @throws {NotFoundError} When no registry has the image.
   * @throws {OcidError} UNAVAILABLE, UNAUTHENTICATED, PERMISSION_DENIED, DEADLINE_EXCEEDED,
   *   UNIMPLEMENTED (schema 1), INVALID_ARGUMENT (a malicious or malformed layer),
   *   FAILED_PRECONDITION (a zstd layer without the zstd program).
   */
  async pull(ref: string, options: PullOptions = {}): Promise<ImageRecord> {
    const parsed = parseReference(ref);
    const key = formatReference(parsed);
    const running = this.#pulls.get(key);
    if (running) return await running;
    const p = this.#pullFrom(parsed, options).catch(async (err) => {
      // Leave nothing behind a failed pull, unless another pull may be using it.
      if (this.#pulls.size <= 1) {
        await this.#locked(() => this.#collectGarbage()).catch((gcErr) => {
          this.#log.warn("Cleanup after a failed pull failed", { error: gcErr });
        });
      }
      throw err;
    });
    this.#pulls.set(key, p);
    try {
      return await p;
    } finally {
      this.#pulls.delete(key);
    }
  }

  async #pullFrom(ref: ImageReference, options: PullOptions): Promise<ImageRecord> {
    const endpoints = resolveEndpoints(ref, {
      conf: this.#registries,
      insecureRegistries: this.#deps.config.image.insecureRegistries,
    });
    let lastErr: unknown;
    for (const ep of endpoints) {
      try {
        return await this.#pullEndpoint(ref, ep, options);
      } catch (err) {
        lastErr = err;
        if (!ep.mirror || options.signal?.aborted) throw err;
        this.#log.warn("Pull from mirror failed; trying the next source", {
          image: formatReference(ref),
          mirror: ep.registry,
          error: err,
        });
      }
    }
    throw lastErr;
  }

  async #pullEndpoint(
    ref: ImageReference,
    ep: Endpoint,
    options: PullOptions,
  ): Promise<ImageRecord> {
    const name = formatReference(ref);
    const started = performance.now();
    const client = new RegistryClient(ep.registry, {
      insecure: ep.insecure,
      auth: options.auth,
      progressTimeoutMs: this.#deps.config.image.pullProgressTimeoutSeconds * 1000,
      signal: options.signal,
      ...(this.#deps.fetch ? { fetch: this.#deps.fetch } : {}),
    });
    const top = await client.getManifest(ep.repository, manifestRef(ref));
    const topDigest = sha256Digest(top.bytes);
    if (ref.digest !== undefined && topDigest !== ref.digest) {
      throw new DigestMismatchError(
        `Manifest of "${name}" should have digest "${ref.digest}" but the registry sent "${topDigest}"`,
      );
    }
    let parsed = parseManifest(top.bytes, { contentType: top.contentType, name });
    const manifestBlobs: [string, Uint8Array][] = [[topDigest, top.bytes]];
    let manifestDigest = topDigest;
    if (parsed.kind === "index") {
      const desc = selectPlatform(parsed, {
        name,
        ...(this.#deps.platform ? { platform: this.#deps.platform } : {}),
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
    if (!(await this.#blobs.has(configDigest))) {
      await this.#fetchBlob(client, ep.repository, manifest.config, `Config of "${name}"`);
    }
    const config = parseImageConfig(await this.#blobs.read(configDigest), name);
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new OcidError(
        "INVALID_ARGUMENT",
        `Image "${name}" has ${manifest.layers.length} layers but ${diffIds.length} diff IDs in its config`,
      );
    }
    const chain = chainIds(diffIds);
    // Layers, bottom first (each needs the ones below for hardlink copy-up).
    let size = 0;
    for (let i = 0; i < manifest.layers.length; i++) {
      const desc = manifest.layers[i]!;
      const chainId = chain[i]!;
      const lowerDirs = chain.slice(0, i).reverse().map((c) => this.#layers.diffDir(c));
      const rec = await this.#layers.getOrCreate(chainId, async (diffDir) => {
        const what = `Layer ${i + 1}/${manifest.layers.length} of "${name}"`;
        await this.#fetchBlob(client, ep.repository, desc, what, { layer: true });
        crashPoint("image_pull:after_blob");
        try {
          return await this.#unpack(desc, diffDir, {
            diffId: diffIds[i]!,
            name: `${desc.digest}`,
            what,
            lowerDirs,
            ...(i > 0 ? { parent: chain[i - 1]! } : {}),
          });
        } finally {
          await this.#blobs.remove(desc.digest);
        }
      });
      size += rec.size;
      crashPoint("image_pull:after_layer");
    }
    // Record.
    return await this.#locked(async () => {
      for (const [d, bytes] of manifestBlobs) {
        if (!(await this.#blobs.has(d))) {
          await this.#blobs.putBytes(d, bytes, `Manifest of "${name}"`);
        }
      }
      const existing = this.#images.get(configDigest);
      const repo = repoName(ref);
      const tags = new Set(existing?.repoTags ?? []);
      if (ref.tag !== undefined && ref.digest === undefined) tags.add(`${repo}:${ref.tag}`);
      const digests = new Set(existing?.repoDigests ?? []);
      digests.add(`${repo}@${topDigest}`);
      const rec: ImageRecord = {
        id: configDigest,
        repoTags: [...tags],
        repoDigests: [...digests],
        size,
        ...parseUser(config.config?.User),
        pinned: (existing?.pinned ?? false) || (options.pinned ?? false),
        chainIds: chain,
        manifestDigest,
        config: (config.config ?? {}) as ImageRecord["config"],
        pulledAt: existing?.pulledAt ?? new Date().toISOString(),
      };
      await this.#images.put(rec);
      crashPoint("image_pull:after_record");
      this.#log.info("Pulled image", {
        image: name,
        id: configDigest,
        from: ep.registry,
        ms: Math.round(performance.now() - started),
      });
      return rec;
    });
  }

  /** Downloads one blob into the blob store once, even when asked concurrently. */
  async #fetchBlob(
    client: RegistryClient,
    repository: string,
    desc: Descriptor,
    what: string,
    options: { layer?: boolean } = {},
  ): Promise<void> {
    const running = this.#blobsInFlight.get(desc.digest);
    if (running) return await running;
    const p = (async () => {
      let body = await client.getBlob(repository, desc.digest);
      if (options.layer) {
        body = body.pipeThrough(progressLogger(this.#log, { what, size: desc.size }));
        // Last in the chain, so that it pulls only when put() reads, which is after
        // put() has written the chunk before: the crash leaves bytes on disk.
        body = crashMidStream(body, "image_pull:mid_blob");
      }
      await this.#blobs.put(desc.digest, body, { size: desc.size, what });
    })();
    this.#blobsInFlight.set(desc.digest, p);
    try {
      await p;
    } finally {
      this.#blobsInFlight.delete(desc.digest);
    }
  }

  async #unpack(
    desc: Descriptor,
    diffDir: string,
    o: { diffId: string; name: string; what: string; lowerDirs: string[]; parent?: string },
  ) {
    const file = await Deno.open(this.#blobs.path(desc.digest));
    const decompressed = await decompressLayer(file.readable, o.name);
    let stream = decompressed.stream;
    const labelled = layerCompression(desc.mediaType);
    if (decompressed.compression !== labelled) {
      this.#log.info("Layer compression differs from its media type; using what the bytes say", {
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
      runner: this.#deps.runner,
      logger: this.#log,
      name: o.name,
      lowerDirs: o.lowerDirs,
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

  /**
   * Finds an image by full id (`sha256:…` or bare hex), by reference (tag or digest), or by
   * a unique id prefix (at least 3 hex digits).
   *
   * @returns The record, or undefined when absent.
   */
  status(ref: string): ImageRecord | undefined {
    const byId = this.#images.get(ref) ??
      (/^[a-f0-9]{64}$/.test(ref) ? this.#images.get(`sha256:${ref}`) : undefined);
    if (byId) return byId;
    let parsed: ImageReference | undefined;
    try {
      parsed = parseReference(ref);
    } catch {
      parsed = undefined;
    }
    if (parsed) {
      if (parsed.digest !== undefined) {
        const rec = this.#images.byRepoDigest(`${repoName(parsed)}@${parsed.digest}`) ??
          this.#images.get(parsed.digest);
        if (rec) return rec;
      } else {
        const rec = this.#images.byTag(formatReference(parsed));
        if (rec) return rec;
      }
    }
    const hex = ref.startsWith("sha256:") ? ref.slice(7) : ref;
    if (/^[a-f0-9]{3,64}$/.test(hex)) {
      const matches = this.#images.byPrefix(hex);
      if (matches.length === 1) return matches[0];
    }
    if (isDigest(ref)) return this.#images.all().find((r) => r.manifestDigest === ref);
    return undefined;
  }

  /**
   * Like {@linkcode status} but throws; for CreateContainer.
   *
   * @throws {NotFoundError} When the image is not pulled.
   */
  resolve(ref: string): ImageRecord {
    const rec = this.status(ref);
    if (!rec) throw new NotFoundError(`Cannot find image "${ref}"; pull it first`);
    return rec;
  }

  /** Images, optionally only those matching `filter.image`. */
  list(filter: ListFilter = {}): ImageRecord[] {
    if (filter.image) {
      const rec = this.status(filter.image);
      return rec ? [rec] : [];
    }
    return this.#images.all();
  }

  /**
   * Removes an image and frees layers and blobs no other image uses. Idempotent: an absent
   * image is not an error.
   *
   * @returns Whether an image was removed.
   * @throws {FailedPreconditionError} When a container uses the image.
   */
  async remove(ref: string): Promise<boolean> {
    return await this.#locked(async () => {
      const rec = this.status(ref);
      if (!rec) return false;
      if (await (this.#deps.isInUse?.(rec.id) ?? false)) {
        throw new FailedPreconditionError(
          `Cannot remove image "${ref}" (${rec.id}): a container uses it`,
        );
      }
      await this.#images.delete(rec.id);
      const others = this.#images.all();
      const usedLayers = new Set(others.flatMap((r) => r.chainIds));
      for (const c of rec.chainIds) if (!usedLayers.has(c)) await this.#layers.remove(c);
      const usedBlobs = new Set(
        others.flatMap((r) => [
          r.id,
          r.manifestDigest,
          ...r.repoDigests.map((d) => d.slice(d.indexOf("@") + 1)),
        ]),
      );
      const mine = [
        rec.id,
        rec.manifestDigest,
        ...rec.repoDigests.map((d) => d.slice(d.indexOf("@") + 1)),
      ];
      for (const d of mine) if (!usedBlobs.has(d)) await this.#blobs.remove(d);
      this.#log.info("Removed image", { image: ref, id: rec.id });
      return true;
    });
  }

  /** Deletes layers and blobs that no image record refers to. Call with no pull running. */
  async #collectGarbage(): Promise<void> {
    const records = this.#images.all();
    const layers = new Set(records.flatMap((r) => r.chainIds));
    for (const c of await this.#layers.list()) if (!layers.has(c)) await this.#layers.remove(c);
    const blobs = new Set(records.flatMap((r) => [
      r.id,
      r.manifestDigest,
      ...r.repoDigests.map((d) => d.slice(d.indexOf("@") + 1)),
    ]));
    for (const d of await this.#blobs.list()) if (!blobs.has(d)) await this.#blobs.remove(d);
  }

  /** Bytes and inodes used by the image store. */
  async fsInfo(): Promise<ImageFsUsage> {
    const { bytes, inodes } = await diskUsage(this.#dir);
    return { mountpoint: this.#dir, usedBytes: bytes, inodesUsed: inodes, timestamp: Date.now() };
  }

  /**
   * Creates the root filesystem of a container over an image's layers.
   *
   * @returns The rootfs path.
   * @throws {NotFoundError} When the image or one of its layers is missing.
   */
  async mountRootfs(
    containerId: string,
    imageId: string,
    options: { readonly?: boolean } = {},
  ): Promise<string> {
    const rec = this.resolve(imageId);
    const layers = await Promise.all(rec.chainIds.map(async (c) => {
      const record = await this.#layers.get(c);
      if (!record) throw new NotFoundError(`Cannot find layer "${c}" of image "${rec.id}"`);
      return { diffDir: this.#layers.diffDir(c), record };
    }));
    return await this.#rootfs.mount(containerId, layers, options);
  }

  /** Unmounts a container's rootfs; idempotent. */
  async unmountRootfs(containerId: string): Promise<void> {
    await this.#rootfs.unmount(containerId);
  }

  /** Unmounts and deletes a container's rootfs and writable layer; idempotent. */
  async removeRootfs(containerId: string): Promise<void> {
    await this.#rootfs.remove(containerId);
  }

  /** Usage of every container's writable layer (CRI ContainerFilesystems). */
  async writableLayerUsage(): Promise<WritableLayerUsage[]> {
    return await this.#rootfs.usage();
  }
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
