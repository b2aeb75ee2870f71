/**
 * ListImages: every pulled image, or those matching `filter.image.image`.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import type { Deps } from "./deps.ts";
import { toCriImage } from "./image_status.ts";

/** Answers ListImages. */
export function listImages(
  deps: Pick<Deps, "images"> & { config: Pick<Deps["config"], "image"> },
  req: cri.ListImagesRequest,
): Promise<cri.ListImagesResponseInit> {
  const image = req.filter?.image?.image;
  const records = deps.images.list(image ? { image } : {});
  return Promise.resolve({
    images: records.map((r) => toCriImage(r, deps.config.image.pinnedImages)),
  });
}
