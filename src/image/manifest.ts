/**
 * OCI and Docker schema 2 manifests, indexes and image configs: media types, parsing, and
 * choosing this machine's platform from a multi-arch index.
 *
 * @module
 */
import { InvalidArgumentError, NotFoundError, OcidError } from "../errors.ts";

/** Media types ocid reads. */
export const MediaType = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNondist: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociLayerNondistGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
} as const;

/** The Accept header of a manifest request. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(", ");

/** An OCI descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
}

/** An OCI platform. */
export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

/** An image manifest (OCI or Docker schema 2). */
export interface ImageManifest {
  kind: "manifest";
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

/** A multi-platform index (OCI index or Docker manifest list). */
export interface ImageIndex {
  kind: "index";
  mediaType: string;
  manifests: Descriptor[];
}

/** The parts of an image config ocid uses. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: { User?: string; Env?: string[]; Entrypoint?: string[]; Cmd?: string[] };
  rootfs: { type: string; diff_ids: string[] };
}

function isDescriptor(v: unknown): v is Descriptor {
  const d = v as Descriptor;
  return typeof d === "object" && d !== null && typeof d.digest === "string" &&
    typeof d.size === "number";
}

/**
 * Parses manifest bytes as an index or an image manifest.
 *
 * @param bytes The body.
 * @param options `contentType` from the response (used when the body has no mediaType) and
 *   `name` for error messages.
 * @throws {OcidError} INVALID_ARGUMENT for malformed JSON or schema 1 manifests.
 */
export function parseManifest(
  bytes: Uint8Array,
  options: { contentType?: string | undefined; name: string },
): ImageManifest | ImageIndex {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new InvalidArgumentError(`Manifest of "${options.name}" is not valid JSON`, {
      cause: err,
    });
  }
  const ct = options.contentType?.split(";")[0]?.trim();
  const mediaType = typeof doc["mediaType"] === "string" ? doc["mediaType"] : ct ?? "";
  if (
    doc["schemaVersion"] === 1 ||
    mediaType.startsWith("application/vnd.docker.distribution.manifest.v1")
  ) {
    throw new OcidError(
      "UNIMPLEMENTED",
      `Manifest of "${options.name}" is Docker schema 1, which is deprecated and not supported`,
    );
  }
  if (Array.isArray(doc["manifests"])) {
    const manifests = doc["manifests"];
    if (!manifests.every(isDescriptor)) {
      throw new InvalidArgumentError(`Index of "${options.name}" has a malformed descriptor`);
    }
    return { kind: "index", mediaType, manifests };
  }
  const config = doc["config"];
  const layers = doc["layers"];
  if (!isDescriptor(config) || !Array.isArray(layers) || !layers.every(isDescriptor)) {
    throw new InvalidArgumentError(
      `Manifest of "${options.name}" has no config or layers (media type "${mediaType}")`,
    );
  }
  return { kind: "manifest", mediaType, config, layers };
}

/** The platform of this machine, in OCI terms. */
export function hostPlatform(): Platform {
  switch (Deno.build.arch) {
    case "x86_64":
      return { os: "linux", architecture: "amd64" };
    case "aarch64":
      return { os: "linux", architecture: "arm64", variant: "v8" };
    default:
      return { os: "linux", architecture: Deno.build.arch };
  }
}

function normVariant(p: Platform): string | undefined {
  if (p.architecture === "arm64" && (p.variant === undefined || p.variant === "v8")) return "v8";
  return p.variant;
}

/**
 * Picks the manifest for `platform` from an index: same os and architecture, and the same
 * variant when both give one (arm64 without a variant is v8).
 *
 * @throws {NotFoundError} When no entry matches.
 */
export function selectPlatform(
  index: ImageIndex,
  options: { platform?: Platform; name: string },
): Descriptor {
  const want = options.platform ?? hostPlatform();
  const candidates = index.manifests.filter((d) =>
    d.platform !== undefined && d.platform.os === want.os &&
    d.platform.architecture === want.architecture
  );
  const wantVariant = normVariant(want);
  const exact = candidates.find((d) => normVariant(d.platform!) === wantVariant);
  const chosen = exact ?? candidates.find((d) => d.platform!.variant === undefined);
  if (!chosen) {
    const have = index.manifests
      .map((d) =>
        d.platform
          ? `${d.platform.os}/${d.platform.architecture}${
            d.platform.variant ? "/" + d.platform.variant : ""
          }`
          : "unknown"
      )
      .join(", ");
    throw new NotFoundError(
      `Image "${options.name}" has no manifest for ${want.os}/${want.architecture} (it has: ${
        have || "none"
      })`,
    );
  }
  return chosen;
}

/** How a layer blob is compressed, from its media type. */
export function layerCompression(mediaType: string): "gzip" | "zstd" | "none" {
  if (mediaType.endsWith("+zstd") || mediaType.endsWith(".zstd")) return "zstd";
  if (mediaType.endsWith("gzip")) return "gzip";
  return "none";
}

/** Parses an image config blob. */
export function parseImageConfig(bytes: Uint8Array, name: string): ImageConfig {
  try {
    const doc = JSON.parse(new TextDecoder().decode(bytes)) as ImageConfig;
    if (!doc.rootfs || !Array.isArray(doc.rootfs.diff_ids)) throw new Error("no rootfs.diff_ids");
    return doc;
  } catch (err) {
    throw new InvalidArgumentError(`Config of image "${name}" is malformed: ${err}`, {
      cause: err,
    });
  }
}
