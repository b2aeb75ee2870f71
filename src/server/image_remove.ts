/**
 * RemoveImage: removes an image by reference, id or id prefix. Idempotent; refused with
 * FAILED_PRECONDITION while a container uses the image.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import type { Deps } from "./deps.ts";

/** Answers RemoveImage. */
export async function removeImage(
  deps: Pick<Deps, "images">,
  req: cri.RemoveImageRequest,
): Promise<cri.RemoveImageResponseInit> {
  const ref = req.image?.image;
  if (!ref) throw new InvalidArgumentError("Missing image.image in RemoveImage");
  await deps.images.remove(ref);
  return {};
}
