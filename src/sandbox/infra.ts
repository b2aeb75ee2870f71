/**
 * The infra (pause) rootfs, shared read-only by every sandbox: made once from the pause binary
 * (catatonit by default) and made again when the binary changes.
 *
 * @module
 */
import { join } from "node:path";

/** Mount points and files runc needs to exist in the read-only rootfs. */
const DIRS = ["dev", "proc", "sys", "etc", "tmp", "run"];
const FILES = ["etc/resolv.conf", "etc/hosts", "etc/hostname"];

/**
 * Ensures `<root>/infra/rootfs` holds `/pause` copied from `binary`; returns the rootfs path.
 *
 * @param root ocid's persistent root directory
 * @param binary the pause binary (a static binary, such as `catatonit`)
 * @throws {Error} when the binary cannot be read
 */
export async function ensureInfraRootfs(root: string, binary: string): Promise<string> {
  const base = join(root, "infra");
  const rootfs = join(base, "rootfs");
  const stat = await Deno.stat(binary).catch((err) => {
    throw new Error(`Cannot read the pause binary "${binary}": ${err.message}`, { cause: err });
  });
  const stamp = `${binary} ${stat.size} ${stat.mtime?.getTime() ?? 0}`;
  const stampPath = join(base, "source");
  const current = await Deno.readTextFile(stampPath).catch(() => "");
  if (current === stamp) return rootfs;

  await Deno.mkdir(base, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: base, prefix: ".rootfs-" });
  for (const dir of DIRS) await Deno.mkdir(join(tmp, dir), { recursive: true });
  for (const file of FILES) await Deno.writeFile(join(tmp, file), new Uint8Array());
  await Deno.copyFile(binary, join(tmp, "pause"));
  await Deno.chmod(join(tmp, "pause"), 0o755);
  await Deno.chmod(tmp, 0o755);
  // Sandboxes bind the old rootfs by path while they run; the old one is renamed away, not
  // deleted, so running pause processes keep their root.
  const old = await Deno.stat(rootfs).then(() => true, () => false);
  if (old) await Deno.rename(rootfs, join(base, `.old-${Date.now()}`));
  await Deno.rename(tmp, rootfs);
  await Deno.writeTextFile(stampPath, stamp);
  return rootfs;
}
