/**
 * ImageStatus: the image record for a reference, id or id prefix; an absent image is not an
 * error (the response has no image). Also holds the record -> CRI Image conversion that
 * ListImages shares.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { ImageRecord } from "../image/mod.ts";
import type { Deps } from "./deps.ts";
import { isPinned } from "../image/pinned.ts";

/**
 * The CRI Image of a record; `pinned` when the record is (the pause image) or a name of it
 * matches the node's `pinned_images`.
 */
export function toCriImage(rec: ImageRecord, pinnedImages: readonly string[]): cri.ImageInit {
  return {
    id: rec.id,
    repo_tags: rec.repoTags,
    repo_digests: rec.repoDigests,
    size: rec.size,
    ...(rec.uid !== undefined ? { uid: { value: rec.uid } } : {}),
    username: rec.username ?? "",
    spec: { image: rec.id },
    pinned: rec.pinned || isPinned([...rec.repoTags, ...rec.repoDigests], pinnedImages),
  };
}

/** Answers ImageStatus. */
export function imageStatus(
  deps: Pick<Deps, "images"> & { config: Pick<Deps["config"], "image"> },
  req: cri.ImageStatusRequest,
): Promise<cri.ImageStatusResponseInit> {
  const ref = req.image?.image;
  if (!ref) throw new InvalidArgumentError("Missing image.image in ImageStatus");
  const rec = deps.images.status(ref);
  if (!rec) return Promise.resolve({});
  const response: cri.ImageStatusResponseInit = {
    image: toCriImage(rec, deps.config.image.pinnedImages),
  };
  if (req.verbose) {
    response.info = {
      info: JSON.stringify({
        chainIds: rec.chainIds,
        manifestDigest: rec.manifestDigest,
        config: rec.config,
        // Where crictl inspecti users read the image's config (`.info.imageSpec.config.Cmd`), as
        // under CRI-O and containerd; ocid keeps its runtime part only.
        imageSpec: { config: rec.config },
        pulledAt: rec.pulledAt,
      }),
    };
  }
  return Promise.resolve(response);
}
