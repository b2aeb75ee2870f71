/**
 * The infra rootfs from a pause image (config `pause.image`) instead of the local pause binary:
 * the image is pulled once (pinned), and each sandbox gets an overlay of it mounted under
 * its own ID; the process comes from the image's Entrypoint and Cmd.
 *
 * @module
 */
import type { ImageService } from "../image/mod.ts";
import { FailedPreconditionError } from "../errors.ts";

/** An infra rootfs made for one sandbox. */
export interface InfraRoot {
  rootfs: string;
  /** The pause image's ID (the image its rootfs is an overlay of). */
  imageId: string;
  args: string[];
  /** Unmounts and removes what was made; idempotent. */
  release(): Promise<void>;
}

/**
 * Mounts the pause image's rootfs for sandbox `id`, pulling the image first if needed.
 *
 * @throws {FailedPreconditionError} when the image has no Entrypoint or Cmd
 */
export async function pauseImageRoot(
  images: ImageService,
  options: { id: string; image: string },
): Promise<InfraRoot> {
  const record = images.status(options.image) ??
    (await images.pull(options.image, { pinned: true }));
  const args = [...(record.config.Entrypoint ?? []), ...(record.config.Cmd ?? [])];
  if (args.length === 0) {
    throw new FailedPreconditionError(
      `Pause image "${options.image}" has neither Entrypoint nor Cmd`,
    );
  }
  // Writable overlay: runc creates the mount points, then makes the root read-only (spec).
  const rootfs = await images.mountRootfs(options.id, record.id);
  return {
    rootfs,
    imageId: record.id,
    args,
    release: () => images.removeRootfs(options.id),
  };
}
