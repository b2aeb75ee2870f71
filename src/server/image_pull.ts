/**
 * PullImage: pulls through the image service with the request's credentials and returns
 * the image id (config digest) as `image_ref`. Like every call, it asks for a memory release
 * when it ends (`src/server/instrument.ts`): a pull moves the layers through many buffers.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { RegistryAuth } from "../image/mod.ts";
import { pullFailureReason } from "../metrics/recorder.ts";
import type { Deps } from "./deps.ts";
import { requireRuntimeHandler } from "../config/runtime_handlers.ts";

/** The image service's credentials from a CRI AuthConfig (empty fields dropped). */
export function toRegistryAuth(auth: cri.AuthConfig | null | undefined): RegistryAuth | undefined {
  if (!auth) return undefined;
  const out: RegistryAuth = {};
  if (auth.username) out.username = auth.username;
  if (auth.password) out.password = auth.password;
  if (auth.auth) out.auth = auth.auth;
  if (auth.registry_token) out.registryToken = auth.registry_token;
  if (auth.identity_token) out.identityToken = auth.identity_token;
  return Object.keys(out).length ? out : undefined;
}

/** Answers PullImage. */
export async function pullImage(
  deps: Pick<Deps, "images" | "log" | "metrics" | "config">,
  req: cri.PullImageRequest,
  options: { signal?: AbortSignal } = {},
): Promise<cri.PullImageResponseInit> {
  const ref = req.image?.image;
  if (!ref) throw new InvalidArgumentError("Missing image.image in PullImage");
  // Every handler shares one image store; a handler the node does not have is refused, as
  // the CRI asks (the kubelet's RuntimeClassInImageCriApi sends the pod's).
  if (req.image?.runtime_handler) {
    requireRuntimeHandler(deps.config, req.image.runtime_handler, "image.runtime_handler");
  }
  deps.log.info("Pulling image", { image: ref });
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const rec = await deps.images.pull(ref, {
    auth: toRegistryAuth(req.auth),
    namespace: req.sandbox_config?.metadata?.namespace,
    ...(options.signal ? { signal: options.signal } : {}),
  }).catch((err: unknown) => {
    deps.metrics?.imagePull({ ok: false, seconds: seconds(), reason: pullFailureReason(err) });
    throw err;
  });
  deps.metrics?.imagePull({ ok: true, seconds: seconds(), bytes: rec.size });
  return { image_ref: rec.id };
}
