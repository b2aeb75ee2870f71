/**
 * Images: references, registries.conf, the distribution API client, content-addressed
 * blobs, per-chain-ID layer directories in overlay form, image records, container root
 * filesystems, and the {@linkcode ImageService} that ties them together.
 *
 * The pull path (the registry client, manifests, decompression, layer unpacking) is exported as
 * types only: `ImageService` loads it on the first pull (`./pull.ts`), so importing this module
 * does not. Import those files directly for their functions.
 *
 * @module
 */
export type * from "./auth.ts";
export * from "./blob_store.ts";
export * from "./digest.ts";
export * from "./image_store.ts";
export type * from "./layer_apply.ts";
export * from "./layer_store.ts";
export type * from "./manifest.ts";
export type * from "./progress.ts";
export type * from "./pull.ts";
export * from "./reference.ts";
export * from "./registries_conf.ts";
export type * from "./registry_client.ts";
export * from "./rootfs.ts";
export * from "./service.ts";
export type * from "./signature_policy.ts";
