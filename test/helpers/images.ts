/**
 * Builds test images without a network: layer tars written with tar-stream, OCI image
 * layouts on disk, and `skopeo copy` to push them to a local registry.
 *
 * @module
 */
import tar from "tar-stream";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/** One tar entry of a test layer. */
export interface LayerEntry {
  name: string;
  type?: "file" | "directory" | "symlink" | "link" | "fifo" | "character-device";
  content?: Uint8Array | string;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  mtime?: Date;
  devmajor?: number;
  devminor?: number;
  /** PAX records of the entry, e.g. `SCHILY.xattr.<name>`. */
  pax?: Record<string, string>;
}

/** A built blob: bytes, digest, media type. */
export interface Blob {
  bytes: Uint8Array;
  digest: string;
  mediaType: string;
}

/** sha256:<hex> of bytes. */
export function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Builds an uncompressed tar from entries (in order). */
export async function buildTar(entries: LayerEntry[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(new Uint8Array(c as Uint8Array)));
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  for (const e of entries) {
    const content = typeof e.content === "string" ? new TextEncoder().encode(e.content) : e.content;
    const type = e.type ?? "file";
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === "directory" ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? new Date(1_700_000_000_000),
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(type === "file" ? { size: content?.byteLength ?? 0 } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === "file") pack.entry(header, Buffer.from(content ?? new Uint8Array()), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  await done;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.byteLength;
  }
  return out;
}

/** gzip-compresses bytes. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = ReadableStream.from([bytes]).pipeThrough(
    new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>,
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A layer: the gzip blob and the diff ID of its tar. */
export interface Layer {
  blob: Blob;
  diffId: string;
}

/** Builds a gzip layer from entries. */
export async function buildLayer(entries: LayerEntry[]): Promise<Layer> {
  const raw = await buildTar(entries);
  const bytes = await gzip(raw);
  return {
    blob: {
      bytes,
      digest: digestOf(bytes),
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    },
    diffId: digestOf(raw),
  };
}

/** A complete single-platform image: manifest, config, layers. */
export interface TestImage {
  manifest: Blob;
  config: Blob;
  layers: Layer[];
}

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** Builds config + manifest over layers. */
export function buildImage(
  layers: Layer[],
  options: { architecture?: string; user?: string; cmd?: string[]; volumes?: string[] } = {},
): TestImage {
  const configBytes = enc({
    architecture: options.architecture ?? "amd64",
    os: "linux",
    config: {
      User: options.user ?? "",
      Cmd: options.cmd ?? ["/bin/sh"],
      Env: ["PATH=/bin"],
      ...(options.volumes
        ? { Volumes: Object.fromEntries(options.volumes.map((v) => [v, {}])) }
        : {}),
    },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  });
  const config: Blob = {
    bytes: configBytes,
    digest: digestOf(configBytes),
    mediaType: "application/vnd.oci.image.config.v1+json",
  };
  const manifestBytes = enc({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: config.mediaType, digest: config.digest, size: configBytes.byteLength },
    layers: layers.map((l) => ({
      mediaType: l.blob.mediaType,
      digest: l.blob.digest,
      size: l.blob.bytes.byteLength,
    })),
  });
  return {
    manifest: {
      bytes: manifestBytes,
      digest: digestOf(manifestBytes),
      mediaType: "application/vnd.oci.image.manifest.v1+json",
    },
    config,
    layers,
  };
}

/** Builds an OCI index over platform images. */
export function buildIndex(
  entries: { image: TestImage; architecture: string; variant?: string }[],
): Blob {
  const bytes = enc({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: entries.map((e) => ({
      mediaType: e.image.manifest.mediaType,
      digest: e.image.manifest.digest,
      size: e.image.manifest.bytes.byteLength,
      platform: {
        os: "linux",
        architecture: e.architecture,
        ...(e.variant ? { variant: e.variant } : {}),
      },
    })),
  });
  return { bytes, digest: digestOf(bytes), mediaType: "application/vnd.oci.image.index.v1+json" };
}

/** Every blob of an image (layers, config, manifest). */
export function imageBlobs(image: TestImage): Blob[] {
  return [...image.layers.map((l) => l.blob), image.config, image.manifest];
}

/**
 * Writes an OCI image layout at `dir` with `top` (a manifest or an index) tagged `tag`.
 */
export async function writeOciLayout(
  dir: string,
  options: { top: Blob; blobs: Blob[]; tag: string },
): Promise<void> {
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  await Deno.writeTextFile(`${dir}/oci-layout`, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  for (const b of [...options.blobs, options.top]) {
    await Deno.writeFile(`${dir}/blobs/sha256/${b.digest.slice(7)}`, b.bytes);
  }
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{
        mediaType: options.top.mediaType,
        digest: options.top.digest,
        size: options.top.bytes.byteLength,
        annotations: { "org.opencontainers.image.ref.name": options.tag },
      }],
    }),
  );
}

/**
 * Pushes an OCI layout to a registry with skopeo (`--all` keeps every platform of an index).
 *
 * @param layout The OCI layout dir.
 * @param options Tag in the layout, destination `host:port/repo:tag`, optional creds.
 */
export async function skopeoPush(
  layout: string,
  options: { tag: string; dest: string; creds?: string },
): Promise<void> {
  const args = [
    "copy",
    "--all",
    "--dest-tls-verify=false",
    "--preserve-digests",
    ...(options.creds ? ["--dest-creds", options.creds] : []),
    `oci:${layout}:${options.tag}`,
    `docker://${options.dest}`,
  ];
  const out = await new Deno.Command("skopeo", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`skopeo ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Layer entries of a busybox rootfs: the static binary and a few applet symlinks. */
export async function busyboxEntries(): Promise<LayerEntry[]> {
  const bin = await Deno.readFile("/bin/busybox");
  const entries: LayerEntry[] = [
    { name: "bin/", type: "directory" },
    { name: "bin/busybox", content: bin, mode: 0o755 },
  ];
  for (const applet of ["sh", "ls", "cat", "echo", "sleep", "true", "stat"]) {
    entries.push({ name: `bin/${applet}`, type: "symlink", linkname: "busybox" });
  }
  entries.push({ name: "etc/", type: "directory" }, {
    name: "etc/passwd",
    content: "root:x:0:0:root:/root:/bin/sh\n",
  });
  entries.push({ name: "tmp/", type: "directory", mode: 0o1777 });
  return entries;
}

/** (a) busybox: one layer. */
export async function busyboxImage(options: { architecture?: string } = {}): Promise<TestImage> {
  return buildImage([await buildLayer(await busyboxEntries())], options);
}

/**
 * (b) Two layers: the upper deletes and replaces files of the lower, makes `/opq` opaque,
 * and has a hardlink, a symlink and specific modes.
 */
export async function layeredImage(): Promise<TestImage> {
  const lower = await buildLayer([
    ...(await busyboxEntries()),
    { name: "data/", type: "directory" },
    { name: "data/keep", content: "keep\n" },
    { name: "data/gone", content: "gone\n" },
    { name: "data/replaced", content: "old\n" },
    { name: "data/dir-gone/", type: "directory" },
    { name: "data/dir-gone/f", content: "x" },
    { name: "opq/", type: "directory" },
    { name: "opq/old", content: "hidden by opaque\n" },
  ]);
  const upper = await buildLayer([
    { name: "data/", type: "directory" },
    { name: "data/.wh.gone", content: "" },
    { name: "data/.wh.dir-gone", content: "" },
    { name: "data/replaced", content: "new\n", mode: 0o600 },
    { name: "opq/", type: "directory", mode: 0o750 },
    { name: "opq/.wh..wh..opq", content: "" },
    { name: "opq/new", content: "visible\n" },
    { name: "modes/", type: "directory", mode: 0o700 },
    { name: "modes/setuid", content: "s", mode: 0o4755, uid: 1000, gid: 1000 },
    { name: "modes/ro", content: "r", mode: 0o444 },
    { name: "links/", type: "directory" },
    { name: "links/original", content: "same inode\n" },
    { name: "links/hard", type: "link", linkname: "links/original" },
    { name: "links/soft", type: "symlink", linkname: "/data/keep" },
    { name: "links/fifo", type: "fifo", mode: 0o640 },
  ]);
  return buildImage([lower, upper], { user: "1000" });
}

/** (e) A larger image: `count` layers of `filesPerLayer` files of `fileSize` random bytes. */
export async function largeImage(
  options: { layers?: number; filesPerLayer?: number; fileSize?: number } = {},
): Promise<TestImage> {
  const { layers = 4, filesPerLayer = 50, fileSize = 64 * 1024 } = options;
  const out: Layer[] = [await buildLayer(await busyboxEntries())];
  for (let l = 0; l < layers; l++) {
    const entries: LayerEntry[] = [{ name: `big${l}/`, type: "directory" }];
    for (let f = 0; f < filesPerLayer; f++) {
      const content = new Uint8Array(fileSize);
      for (let i = 0; i < fileSize; i += 65536) {
        crypto.getRandomValues(content.subarray(i, i + 65536));
      }
      entries.push({ name: `big${l}/f${f}`, content });
    }
    out.push(await buildLayer(entries));
  }
  return buildImage(out);
}
