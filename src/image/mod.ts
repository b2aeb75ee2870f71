/**
 * Images: references, registries.conf, the distribution API client, content-addressed
 * blobs, per-chain-ID layer directories in overlay form, image records, container root
 * filesystems, and the {@linkcode ImageService} that ties them together.
 *
 * @module
 */
export * from "./auth.ts";
export * from "./blob_store.ts";
export * from "./digest.ts";
export * from "./image_store.ts";
export * from "./layer_apply.ts";
export * from "./layer_store.ts";
export * from "./manifest.ts";
export * from "./progress.ts";
export * from "./reference.ts";
export * from "./registries_conf.ts";
export * from "./registry_client.ts";
export * from "./rootfs.ts";
export * from "./service.ts";
