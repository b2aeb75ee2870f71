/**
 * Image volumes (CRI `Mount.image`, KEP 4639): a container mounts an image's files read-only,
 * whole or one path of them (`Mount.image_sub_path`). The image service mounts the image's layers
 * read-only under the container's dir (`RootfsManager.mountImageVolume`); this module
 * checks the sub path and finds it inside that tree.
 *
 * A sub path is resolved as if the volume were `/`: a symlink in the image that names `/etc` or
 * climbs with `..` stays inside the image (as `openat2(RESOLVE_IN_ROOT)` and runc's securejoin
 * do). A host-side `realpath` would follow it to the node's own `/etc` and bind that into the
 * container.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** Most symlinks followed while resolving one sub path (Linux's own limit). */
const MAX_SYMLINKS = 40;

/**
 * Checks a requested sub path: relative, no `..`, no NUL. kubelet sends the pod's
 * `volumeMounts[].subPath`, which it validates the same way.
 *
 * @param subPath The request's `image_sub_path`.
 * @param field The request field, for the error.
 * @throws {InvalidArgumentError} When the sub path is absolute, climbs, or has a NUL byte.
 */
export function checkImageSubPath(subPath: string, field: string): void {
  if (subPath.startsWith("/") || subPath.includes("\0") || subPath.split("/").includes("..")) {
    throw new InvalidArgumentError(
      `Invalid ${field} ${JSON.stringify(subPath)}: it must be a relative path inside the image ` +
        `without ".."`,
    );
  }
}

/** The file-system calls {@linkcode resolveInRoot} makes; tests may wrap them. */
export interface ResolveFs {
  lstat(path: string): Promise<Deno.FileInfo>;
  readLink(path: string): Promise<string>;
}

const denoFs: ResolveFs = { lstat: Deno.lstat, readLink: Deno.readLink };

/**
 * Resolves `subPath` below `root` with `root` as `/`: symlinks are followed inside `root` only,
 * and `..` stops at `root`.
 *
 * @param root The volume's root (an absolute path without symlinks in it).
 * @param subPath A relative path ({@linkcode checkImageSubPath}); "" is `root` itself.
 * @param fs The file-system calls. @default Deno's
 * @param makeMissing Makes a component that does not exist (as a directory) instead of failing.
 * @returns An absolute path below (or equal to) `root` with no symlink in it, which exists.
 * @throws {InvalidArgumentError} When a component does not exist (and is not made), a
 *   non-directory has more components after it, or symlinks loop.
 */
export async function resolveInRoot(
  root: string,
  subPath: string,
  fs: ResolveFs = denoFs,
  makeMissing?: (path: string) => Promise<void>,
): Promise<string> {
  const done: string[] = [];
  const todo = subPath.split("/").reverse();
  let links = 0;
  const where = () => (done.length === 0 ? root : `${root}/${done.join("/")}`);
  while (todo.length > 0) {
    const part = todo.pop()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const path = `${where()}/${part}`;
    let info: Deno.FileInfo;
    try {
      info = await fs.lstat(path);
    } catch (err) {
      if (makeMissing && err instanceof Deno.errors.NotFound) {
        await makeMissing(path);
        done.push(part);
        continue;
      }
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
        throw new InvalidArgumentError(
          `Cannot find ${JSON.stringify(subPath)} in the image: "${
            [...done, part].join("/")
          }" does not exist`,
        );
      }
      throw err;
    }
    if (!info.isSymlink) {
      if (!info.isDirectory && todo.some((p) => p !== "" && p !== ".")) {
        throw new InvalidArgumentError(
          `Cannot find ${JSON.stringify(subPath)} in the image: "${
            [...done, part].join("/")
          }" is not a directory`,
        );
      }
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw new InvalidArgumentError(
        `Cannot resolve ${JSON.stringify(subPath)} in the image: too many symlinks`,
      );
    }
    const target = await fs.readLink(path);
    // An absolute target starts again at the volume's root; a relative one from where it lies.
    if (target.startsWith("/")) done.length = 0;
    todo.push(...target.split("/").reverse());
  }
  return where();
}
