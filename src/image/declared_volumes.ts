/**
 * The volumes an image declares (its config's `Volumes`, a Dockerfile's `VOLUME`), which
 * CreateContainer gives each container as the node's `image_volumes` says (CRI-O's key):
 *
 * - `mkdir` (the default, CRI-O's): the directory is made in the container's root filesystem
 *   where the image lacks it, each made component owned by the container's user and group (mode
 *   0755), so a process that runs as that user can write there, as under CRI-O and containerd;
 * - `bind`: a new empty directory of the container (under `<root>/containers/<id>/volumes`, owned
 *   by its user) is bound read-write at the path, writable even with a read-only root
 *   filesystem; it goes with the container's rootfs (`RootfsManager.remove`);
 * - `ignore`: nothing (before this key, what ocid did: an image that declares `VOLUME /data`
 *   without making `/data` gave a container where writing there failed).
 *
 * A path the request mounts something at (a kubelet volume) is left alone. The path is resolved
 * in the root filesystem with it as `/` (`resolveInRoot`): a symlink in the image cannot make
 * ocid create or chown a directory on the node.
 *
 * @module
 */
import { join, normalize } from "node:path";
import type * as cri from "../cri/types.ts";
import { FailedPreconditionError } from "../errors.ts";
import { isObject } from "../json_shape.ts";
import { resolveInRoot } from "./image_volume.ts";
import { DECLARED_VOLUMES } from "./rootfs.ts";

/** `image_volumes`: what a container gets for each volume its image declares. */
export type ImageVolumesMode = "mkdir" | "bind" | "ignore";

/**
 * The absolute paths an image config declares as volumes, sorted, without those the request
 * mounts something at.
 *
 * @param config The image's runtime config (`config` of the OCI image config).
 * @param mounts The request's mounts.
 */
export function declaredVolumes(
  config: Record<string, unknown>,
  mounts: readonly Pick<cri.Mount, "container_path">[],
): string[] {
  const volumes = config["Volumes"];
  if (!isObject(volumes)) return [];
  const mounted = new Set(mounts.map((m) => clean(m.container_path)));
  return Object.keys(volumes)
    .filter((p) => p.startsWith("/") && !p.includes("\0"))
    .map(clean)
    .filter((p) => p !== "/" && !mounted.has(p))
    .sort();
}

function clean(path: string): string {
  const n = normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/** Who owns what is made: the container's user and primary group. */
export interface VolumeOwner {
  uid: number;
  gid: number;
}

/**
 * Makes `path` in `rootfs` where it is missing (mode 0755, each component it makes owned by
 * `owner`), resolving symlinks inside `rootfs`.
 *
 * @throws {FailedPreconditionError} When the path is in the image but not a directory, or
 *   cannot be made.
 */
export async function makeVolumeDir(
  rootfs: string,
  path: string,
  owner: VolumeOwner,
): Promise<void> {
  let dir: string;
  try {
    dir = await resolveInRoot(rootfs, path.slice(1), undefined, async (missing) => {
      await Deno.mkdir(missing, { mode: 0o755 });
      await Deno.chown(missing, owner.uid, owner.gid);
    });
    if ((await Deno.stat(dir)).isDirectory) return;
  } catch (err) {
    throw new FailedPreconditionError(
      `Cannot make the image's volume "${path}" in the container: ${(err as Error).message}`,
      { cause: err },
    );
  }
  throw new FailedPreconditionError(
    `Cannot make the image's volume "${path}" in the container: the image has a file there`,
  );
}

/**
 * Makes the directory of the `index`th declared volume of a container under `containerDir`
 * (`volumes/<index>`, owned by `owner`) and returns the mount that binds it at `path`.
 */
export async function makeVolumeBind(
  containerDir: string,
  index: number,
  path: string,
  owner: VolumeOwner,
): Promise<cri.Mount> {
  const dir = join(containerDir, DECLARED_VOLUMES, String(index));
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  await Deno.chown(dir, owner.uid, owner.gid);
  return {
    container_path: path,
    host_path: dir,
    readonly: false,
    selinux_relabel: false,
    propagation: "PROPAGATION_PRIVATE",
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: "",
  };
}
