/**
 * The propagation of host mounts, from `/proc/self/mountinfo`. A bind mount with
 * `PROPAGATION_BIDIRECTIONAL` (rshared) only carries mounts between host and container when
 * the source lies on a shared mount, and `PROPAGATION_HOST_TO_CONTAINER` (rslave) only when it
 * lies on a shared or slave mount; otherwise runc starts the container and nothing propagates.
 * containerd (`ensureShared`, `ensureSharedOrSlave`) and CRI-O refuse such a request; so does
 * ocid, naming the mount point.
 *
 * @module
 */

/** One line of mountinfo: where it is mounted and how it propagates. */
export interface MountEntry {
  /** The mount point (field 5), unescaped. */
  mountPoint: string;
  /** Optional fields (7 up to `-`): `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  optional: string[];
}

/** How a mount propagates, from its optional fields. */
export type Propagation = "shared" | "slave" | "shared+slave" | "private";

/**
 * Parses a mountinfo text (proc(5)). Pure.
 *
 * @param text The content of `/proc/<pid>/mountinfo`.
 * @returns The mounts in the file's order (a later mount at the same point covers an earlier).
 */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    if (fields.length < 7 || sep < 0) continue;
    out.push({ mountPoint: unescapeMountinfo(fields[4]!), optional: fields.slice(6, sep) });
  }
  return out;
}

/** A mountinfo field with its octal escapes (`\ooo`: space, tab, newline, backslash) decoded. */
export function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Finds the mount that holds `path`: the deepest mount point at or above it, and of several
 * at the same point the last (the one on top).
 *
 * @param path An absolute path without symlinks (the caller resolves them).
 * @param mounts Parsed mountinfo.
 * @returns The mount, or undefined when no mount point covers `path`.
 */
export function mountOf(path: string, mounts: readonly MountEntry[]): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const p = m.mountPoint;
    const covers = p === "/" || path === p || path.startsWith(`${p}/`);
    if (covers && (best === undefined || p.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/**
 * Tells how a mount propagates.
 *
 * @param entry A parsed mountinfo entry.
 * @returns `shared` (peer group), `slave` (receives from a master), both, or `private`.
 */
export function propagationOf(entry: MountEntry): Propagation {
  const shared = entry.optional.some((o) => o.startsWith("shared:"));
  const slave = entry.optional.some((o) => o.startsWith("master:"));
  return shared && slave ? "shared+slave" : shared ? "shared" : slave ? "slave" : "private";
}

/**
 * Why a bind mount of `path` cannot propagate as asked, or undefined when it can.
 *
 * @param path The source, absolute, symlinks resolved.
 * @param want `rshared` (needs a shared mount) or `rslave` (needs a shared or slave one).
 * @param mounts Parsed mountinfo of the daemon.
 * @returns A sentence naming the mount point and its propagation, or undefined.
 */
export function propagationProblem(
  path: string,
  want: "rshared" | "rslave",
  mounts: readonly MountEntry[],
): string | undefined {
  const mount = mountOf(path, mounts);
  if (mount === undefined) return `"${path}" is on no mount the daemon can see`;
  const has = propagationOf(mount);
  const ok = want === "rshared" ? has.includes("shared") : has !== "private";
  if (ok) return undefined;
  const need = want === "rshared" ? "a shared mount" : "a shared or slave mount";
  return `"${path}" is on mount "${mount.mountPoint}", which is ${has}, not ${need}`;
}
