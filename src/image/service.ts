/**
 * The image service behind the CRI ImageService: pull, list, status, remove, filesystem
 * usage, and container root filesystems over the pulled layers.
 *
 * Storage under `<root>/images`: `blobs/sha256/<hex>` (manifests, indexes, configs; layer
 * blobs only while they are being unpacked), `layers/<chain hex>/diff`, `records/<id>.json`,
 * `tmp/`.
 *
 * Pulling itself (registry client, decompression, layer unpacking) is `./pull.ts`, imported on
 * the first pull.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { crashPoint } from "../crash.ts";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  OcidError,
} from "../errors.ts";
import { exists } from "../exists.ts";
import { type Logger, nullLogger } from "../log.ts";
import type { Runner } from "../process.ts";
import type { RegistryAuth } from "./auth.ts";
import { BlobStore } from "./blob_store.ts";
import { type ImageRecord, ImageStore } from "./image_store.ts";
import { sha256Digest } from "./digest.ts";
import { LayerStore } from "./layer_store.ts";
import type { Platform } from "./manifest.ts";
import type { FetchFn } from "./progress.ts";
import type { FetchedImage, PullDeps } from "./pull.ts";
import type { SignaturePolicy } from "./signature_policy.ts";
import type { SignatureCheck } from "./sigstore.ts";
import {
  formatReference,
  type ImageReference,
  isDigest,
  parseReference,
  repoName,
} from "./reference.ts";
import {
  type Endpoint,
  loadRegistriesConf,
  type RegistriesConf,
  resolveEndpoints,
} from "./registries_conf.ts";
import { diskUsage, type RootfsLayer, RootfsManager, type WritableLayerUsage } from "./rootfs.ts";

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
  /**
   * The namespace of the pod the image is for (PullImage's `sandbox_config`): its own
   * signature policy, `<signature_policy_dir>/<namespace>.json`, applies when there is one.
   */
  namespace?: string | undefined;
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

/** The pull code, `./pull.ts`. */
type Pull = typeof import("./pull.ts");

let pullCode: Promise<Pull> | undefined;

/**
 * The signature policy file at `path`; none for "".
 *
 * @throws {Error} Naming the file, when it cannot be read or is not a policy.
 */
export async function loadNodeSignaturePolicy(path: string): Promise<SignaturePolicy | undefined> {
  if (path === "") return undefined;
  const { loadSignaturePolicy } = await import("./signature_policy.ts");
  return await loadSignaturePolicy(path);
}

/**
 * The credentials of the node's `global_auth_file` for pulling from `ep` (a mirror has its
 * own), for a pull whose request gives none.
 *
 * @throws {FailedPreconditionError} When the file cannot be read or does not parse.
 */
async function fileCredentials(
  path: string,
  ep: Endpoint,
  runner: Runner,
): Promise<RegistryAuth | undefined> {
  if (path === "") return undefined;
  const { credentialsFor, loadAuthFile, parseHelperOutput } = await import("./auth_file.ts");
  try {
    const file = await loadAuthFile(path);
    const found = file ? credentialsFor(file, ep.registry, ep.repository) : undefined;
    if (!found || "auth" in found) return found?.auth;
    // The registry's credential helper, bounded in time: a pull never waits on it for long.
    const result = await runner.run(`docker-credential-${found.helper}`, ["get"], {
      stdin: found.registry,
      check: false,
      timeoutMs: HELPER_TIMEOUT_MS,
    });
    const text = new TextDecoder();
    return parseHelperOutput(found.helper, {
      code: result.code,
      stdout: text.decode(result.stdout),
      stderr: text.decode(result.stderr),
    });
  } catch (err) {
    throw new FailedPreconditionError((err as Error).message, { cause: err });
  }
}

/** How long a credential helper may take. */
const HELPER_TIMEOUT_MS = 30_000;

/**
 * Imports `./pull.ts` on the first pull: an idle node does not hold the registry client, the
 * decompression and the tar reader. A failed import is tried again by the next pull.
 */
function loadPull(): Promise<Pull> {
  pullCode ??= import("./pull.ts").catch((err) => {
    pullCode = undefined;
    throw err;
  });
  return pullCode;
}

function parseUser(user: string | undefined): { uid?: number; username?: string } {
  if (!user) return {};
  const u = user.split(":")[0] ?? "";
  if (/^\d+$/.test(u)) return { uid: Number(u) };
  return u === "" ? {} : { username: u };
}

/** A pull under way, shared by the callers asking for the same image with the same credentials. */
interface SharedPull {
  done: Promise<ImageRecord>;
  /** Aborted when its last caller goes away. */
  stop: AbortController;
  callers: number;
  settled: boolean;
}

/** What tells one set of credentials from another, hashed (no secret kept as a map key). */
function credentialsKey(auth: RegistryAuth | undefined): string {
  return auth ? sha256Digest(JSON.stringify(Object.entries(auth).sort())) : "";
}

/** `p`, or `reason()` as soon as `signal` aborts (`p` goes on). */
function untilAborted<T>(
  p: Promise<T>,
  signal: AbortSignal | undefined,
  reason: () => Error,
): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(reason());
  const { promise, reject } = Promise.withResolvers<never>();
  const onAbort = () => reject(reason());
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([p, promise]).finally(() => signal.removeEventListener("abort", onAbort));
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
  /** The node's signature policy (`signature_policy`); none: every image is accepted. */
  #signaturePolicy: SignaturePolicy | undefined;
  #pulls = new Map<string, SharedPull>();
  #blobsInFlight = new Map<string, Promise<void>>();
  #blobClaims = new Map<string, number>();
  /** Serialises record updates and removals. */
  #lock: Promise<unknown> = Promise.resolve();
  /**
   * The containers (and infra rootfs of pods) mounted over each image, by image ID: from the
   * mount until {@linkcode removeRootfs}. A container being created has no record yet for
   * `isInUse` to find, and its layers are under its mount already.
   */
  #users = new Map<string, Set<string>>();
  /** Images a removal has found unused and is removing: no new mount over them. */
  #removing = new Set<string>();
  /** Layers (chain IDs) that pulls under way will record, with how many pulls hold each. */
  #layerHolds = new Map<string, number>();

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
    s.#signaturePolicy = await loadNodeSignaturePolicy(deps.config.image.signaturePolicy);
    return s;
  }

  /** Uses `policy` (a reloaded `signature_policy`) for the pulls that begin from now on. */
  setSignaturePolicy(policy: SignaturePolicy | undefined): void {
    this.#signaturePolicy = policy;
  }

  /** Uses `conf` (a reloaded registries.conf) for the pulls that begin from now on. */
  setRegistries(conf: RegistriesConf): void {
    this.#registries = conf;
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
   * @param ref The reference as given (`busybox`, `host:5000/a@sha256:...`).
   * @param options Credentials, cancellation, pinning.
   * @returns The stored image record.
   * @throws {NotFoundError} When no registry has the image.
   * @throws {RegistryUnavailableError} When the registry cannot be reached, answers 5xx or stops
   *   sending (pull_progress_timeout).
   * @throws {OcidError} UNAVAILABLE (TLS), UNAUTHENTICATED, PERMISSION_DENIED,
   *   UNIMPLEMENTED (schema 1), INVALID_ARGUMENT (a malicious or malformed layer),
   *   FAILED_PRECONDITION (a zstd layer without the zstd program).
   */
  async pull(ref: string, options: PullOptions = {}): Promise<ImageRecord> {
    const parsed = parseReference(ref);
    const policy = await this.#policyFor(options.namespace);
    // A pull under one policy, or with some credentials, does not stand for a pull under
    // another, or with others: each caller's own must let it in.
    const key = [formatReference(parsed), policy?.file ?? "", credentialsKey(options.auth)]
      .join("\0");
    let shared = this.#pulls.get(key);
    // One whose callers have all gone is ending: not joined.
    if (!shared || shared.stop.signal.aborted) {
      const stop = new AbortController();
      const done = this.#pullFrom(parsed, { ...options, signal: stop.signal }, policy).catch(
        async (err) => {
          // Leave nothing behind a failed pull, unless another pull may be using it.
          if (this.#pulls.size <= 1) {
            await this.#locked(() => this.#collectGarbage()).catch((gcErr) => {
              this.#log.warn("Cleanup after a failed pull failed", { error: gcErr });
            });
          }
          throw err;
        },
      ).finally(() => {
        if (this.#pulls.get(key) === pull) this.#pulls.delete(key);
        pull.settled = true;
      });
      done.catch(() => {}); // its callers may all have gone
      const pull: SharedPull = { done, stop, callers: 0, settled: false };
      this.#pulls.set(key, shared = pull);
    }
    // The pull goes on while one of its callers waits; the last to go away stops it.
    shared.callers++;
    try {
      return await untilAborted(
        shared.done,
        options.signal,
        () => new OcidError("CANCELLED", `The pull of "${ref}" was cancelled by its caller`),
      );
    } finally {
      if (--shared.callers === 0 && !shared.settled) {
        shared.stop.abort(new Error("Every caller of the pull went away"));
      }
    }
  }

  /**
   * The signature policy of a pull for a pod of `namespace`: the namespace's own file under
   * `signature_policy_dir` when there is one, else the node's (read at start and reload).
   *
   * @throws {InvalidArgumentError} When the namespace is not a namespace name.
   * @throws {FailedPreconditionError} When the namespace's file does not load.
   */
  async #policyFor(namespace: string | undefined): Promise<SignaturePolicy | undefined> {
    const dir = this.#deps.config.image.signaturePolicyDir;
    if (dir === "" || !namespace) return this.#signaturePolicy;
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) {
      throw new InvalidArgumentError(
        `Invalid sandbox_config.metadata.namespace ${JSON.stringify(namespace)}: not a ` +
          `namespace name`,
      );
    }
    const file = `${dir}/${namespace}.json`;
    if (!(await exists(file))) return this.#signaturePolicy;
    try {
      return await loadNodeSignaturePolicy(file);
    } catch (err) {
      throw new FailedPreconditionError((err as Error).message, { cause: err });
    }
  }

  async #pullFrom(
    ref: ImageReference,
    options: PullOptions,
    policy: SignaturePolicy | undefined,
  ): Promise<ImageRecord> {
    const verify = policy ? (await import("./sigstore.ts")).signatureCheck(policy, ref) : undefined;
    const endpoints = resolveEndpoints(ref, {
      conf: this.#registries,
      insecureRegistries: this.#deps.config.image.insecureRegistries,
    });
    let lastErr: unknown;
    for (const ep of endpoints) {
      try {
        return await this.#pullEndpoint(ref, ep, { ...options, verify });
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
    options: PullOptions & { verify: SignatureCheck | undefined },
  ): Promise<ImageRecord> {
    const started = performance.now();
    const { fetchImage } = await loadPull();
    const auth = options.auth ??
      (await fileCredentials(this.#deps.config.image.globalAuthFile, ep, this.#deps.runner));
    // The layers this pull uses stay until its record refers to them, or it fails. Held under
    // the lock: a removal under way ends first (and its layers are gone, so pulled again).
    const held: string[] = [];
    const holdLayers = (chain: readonly string[]) =>
      this.#locked(() => {
        for (const c of chain) this.#layerHolds.set(c, (this.#layerHolds.get(c) ?? 0) + 1);
        held.push(...chain);
        return Promise.resolve();
      });
    try {
      const deps = { ...this.#pullDeps, holdLayers };
      return await this.#record(ref, ep, await fetchImage(deps, ref, ep, { ...options, auth }), {
        started,
        ...(options.pinned !== undefined ? { pinned: options.pinned } : {}),
      });
    } finally {
      for (const c of held) {
        const left = (this.#layerHolds.get(c) ?? 1) - 1;
        if (left > 0) this.#layerHolds.set(c, left);
        else this.#layerHolds.delete(c);
      }
    }
  }

  /** Stores the record of a fetched image (and its manifests), under the lock. */
  #record(
    ref: ImageReference,
    ep: Endpoint,
    fetched: FetchedImage,
    options: { started: number; pinned?: boolean },
  ): Promise<ImageRecord> {
    const name = formatReference(ref);
    const { topDigest, configDigest, config } = fetched;
    const started = options.started;
    return this.#locked(async () => {
      for (const [d, bytes] of fetched.manifestBlobs) {
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
        size: fetched.size,
        ...parseUser(config.config?.User),
        pinned: (existing?.pinned ?? false) || (options.pinned ?? false),
        chainIds: fetched.chain,
        manifestDigest: fetched.manifestDigest,
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

  /** What {@linkcode fetchImage} uses. */
  get #pullDeps(): PullDeps {
    return {
      config: this.#deps.config,
      runner: this.#deps.runner,
      log: this.#log,
      blobs: this.#blobs,
      layers: this.#layers,
      blobsInFlight: this.#blobsInFlight,
      blobClaims: this.#blobClaims,
      fetch: this.#deps.fetch,
      platform: this.#deps.platform,
    };
  }

  /**
   * Finds an image by full id (`sha256:...` or bare hex), by reference (tag or digest), or by
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
      // From here no mount starts over it (one started before is among the users).
      this.#removing.add(rec.id);
      try {
        return await this.#removeUnused(ref, rec);
      } finally {
        this.#removing.delete(rec.id);
      }
    });
  }

  /** {@linkcode remove} of a stored image, under the lock. */
  async #removeUnused(ref: string, rec: ImageRecord): Promise<boolean> {
    if (this.#users.has(rec.id) || await (this.#deps.isInUse?.(rec.id) ?? false)) {
      throw new FailedPreconditionError(
        `Cannot remove image "${ref}" (${rec.id}): a container uses it`,
      );
    }
    await this.#images.delete(rec.id);
    const others = this.#images.all();
    const usedLayers = new Set(others.flatMap((r) => r.chainIds));
    for (const c of rec.chainIds) {
      if (!usedLayers.has(c) && !this.#layerHolds.has(c)) await this.#layers.remove(c);
    }
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
  }

  /** Deletes layers and blobs that no image record refers to. Call with no pull running. */
  async #collectGarbage(): Promise<void> {
    const records = this.#images.all();
    const layers = new Set(records.flatMap((r) => r.chainIds));
    for (const c of await this.#layers.list()) {
      if (!layers.has(c) && !this.#layerHolds.has(c)) await this.#layers.remove(c);
    }
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
    return await this.#using(
      containerId,
      imageId,
      async (rec) => await this.#rootfs.mount(containerId, await this.#layersOf(rec), options),
    );
  }

  /**
   * Mounts an image read-only for one of a container's image volumes (CRI `Mount.image`);
   * {@linkcode removeRootfs} takes it away with the rest of the container's dir.
   *
   * @param containerId The container.
   * @param index The mount's place in the container's `mounts`.
   * @param ref The image, as CreateContainer's image is named (kubelet sends PullImage's
   *   `image_ref`).
   * @returns The volume's root and the image's ID.
   * @throws {NotFoundError} When the image or one of its layers is missing.
   */
  async mountImageVolume(
    containerId: string,
    index: number,
    ref: string,
  ): Promise<{ path: string; imageId: string }> {
    return await this.#using(containerId, ref, async (rec) => ({
      path: await this.#rootfs.mountImageVolume(containerId, index, await this.#layersOf(rec)),
      imageId: rec.id,
    }));
  }

  /**
   * Runs `mount` with `containerId` counted among the users of image `ref` from before it
   * starts until {@linkcode removeRootfs}; a mount that fails counts for nothing.
   *
   * @throws {NotFoundError} When the image is not stored, or is being removed.
   */
  async #using<T>(
    containerId: string,
    ref: string,
    mount: (rec: ImageRecord) => Promise<T>,
  ): Promise<T> {
    const rec = this.resolve(ref);
    if (this.#removing.has(rec.id)) {
      throw new NotFoundError(`Cannot find image "${ref}": it is being removed`);
    }
    const users = this.#users.get(rec.id) ?? new Set();
    const added = !users.has(containerId);
    this.#users.set(rec.id, users.add(containerId));
    try {
      return await mount(rec);
    } catch (err) {
      if (added) this.#unuse(containerId, rec.id);
      throw err;
    }
  }

  #unuse(containerId: string, imageId: string): void {
    const users = this.#users.get(imageId);
    if (users?.delete(containerId) && users.size === 0) this.#users.delete(imageId);
  }

  async #layersOf(rec: ImageRecord): Promise<RootfsLayer[]> {
    return await Promise.all(rec.chainIds.map(async (c) => {
      const record = await this.#layers.get(c);
      if (!record) throw new NotFoundError(`Cannot find layer "${c}" of image "${rec.id}"`);
      return { diffDir: this.#layers.diffDir(c), record };
    }));
  }

  /** Unmounts a container's rootfs; idempotent. */
  async unmountRootfs(containerId: string): Promise<void> {
    await this.#rootfs.unmount(containerId);
  }

  /**
   * Unmounts and deletes a container's rootfs and writable layer; idempotent.
   *
   * @param containerId The container.
   * @param options `unmounted`: {@linkcode unmountRootfs} has just succeeded (no mount check).
   */
  async removeRootfs(containerId: string, options: { unmounted?: boolean } = {}): Promise<void> {
    await this.#rootfs.remove(containerId, options);
    for (const imageId of [...this.#users.keys()]) this.#unuse(containerId, imageId);
  }

  /** Usage of every container's writable layer (CRI ContainerFilesystems). */
  async writableLayerUsage(): Promise<WritableLayerUsage[]> {
    return await this.#rootfs.usage();
  }
}
