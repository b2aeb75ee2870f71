/**
 * Checks of storage: overlay support (a real overlay mount under the root, which also catches
 * a root on a filesystem overlay cannot use as upper dir), and free space under the root and
 * runroot.
 *
 * @module
 */
import type { Config } from "../config/types.ts";
import { type Finding, finding } from "./finding.ts";
import type { DoctorHost } from "./host.ts";

const GiB = 1024 ** 3;
/** Below this, pulls and container layers fail soon. */
const FAIL_BYTES = 1 * GiB;
/** Below this, warn. */
const WARN_BYTES = 5 * GiB;

function gib(bytes: number): string {
  return `${(bytes / GiB).toFixed(1)} GiB`;
}

/** Overlay support and free space. */
export async function checkStorage(config: Config, host: DoctorHost): Promise<Finding[]> {
  const found: Finding[] = [];
  if (config.image.storageDriver === "overlay") {
    const filesystems = await host.readTextFile("/proc/filesystems").catch(() => "");
    if (!/\toverlay$/m.test(filesystems)) {
      found.push(finding(
        "warn",
        "storage",
        "overlay is not in /proc/filesystems (the module may load on first mount)",
        'modprobe overlay, or set [image] storage_driver = "vfs"',
      ));
    }
    try {
      await host.tryOverlay(config.root);
      found.push(finding("ok", "storage", `An overlay mount works under ${config.root}`));
    } catch (err) {
      found.push(finding(
        "fail",
        "storage",
        `An overlay mount under ${config.root} failed: ${err instanceof Error ? err.message : err}`,
        'put root on ext4 or xfs (ftype=1), modprobe overlay, or set [image] storage_driver = "vfs"',
      ));
    }
  } else {
    found.push(
      finding(
        "ok",
        "storage",
        `storage_driver "${config.image.storageDriver}" (no overlay needed)`,
      ),
    );
  }
  for (const [key, path] of [["root", config.root], ["runroot", config.runroot]] as const) {
    try {
      const s = await host.space(path);
      const message = `${gib(s.available)} free of ${gib(s.total)} for ${key} ${path}`;
      if (s.available < FAIL_BYTES) {
        found.push(finding("fail", "space", message, `free space on ${path}, or move ${key}`));
      } else if (s.available < WARN_BYTES) {
        found.push(finding("warn", "space", message, `free space on ${path}, or move ${key}`));
      } else {
        found.push(finding("ok", "space", message));
      }
    } catch (err) {
      found.push(
        finding("warn", "space", `Cannot read free space of ${path}: ${(err as Error).message}`),
      );
    }
  }
  return found;
}
