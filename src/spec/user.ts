/**
 * Resolving a container's user to numeric ids against the image's `/etc/passwd` and
 * `/etc/group`. Pure: the caller reads the files from the rootfs (or passes "" when absent).
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import type { Int64Value, SupplementalGroupsPolicy } from "../cri/types.ts";
import { int64 } from "./_int.ts";

/** The contents of the rootfs's account files; "" when a file does not exist. */
export interface AccountFiles {
  passwd: string;
  group: string;
}

/** Numeric ids for `process.user`. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups, without duplicates, in the order found. */
  additionalGids: number[];
  /** The passwd entry's name, when the uid has one. */
  name?: string;
  /** The passwd entry's home directory, when the uid has one. */
  home?: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** Parses passwd(5) lines; malformed lines are skipped as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(":");
    if (f.length < 7 || f[0] === "" || f[0]!.startsWith("#")) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5]! });
  }
  return out;
}

/** Parses group(5) lines; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(":");
    if (f.length < 4 || f[0] === "" || f[0]!.startsWith("#") || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(",").filter((m) => m !== "") });
  }
  return out;
}

const ID = /^\d+$/;
const MAX_ID = 0xffffffff;

function numericId(s: string, what: string): number {
  const n = Number(s);
  if (n > MAX_ID) throw new InvalidArgumentError(`${what} ${s} is out of range`);
  return n;
}

/**
 * Resolves an image `User` string (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...).
 *
 * @param user The user string; "" means root.
 * @param files The rootfs's /etc/passwd and /etc/group contents.
 * @returns The uid, the primary gid (from the group part, else the passwd entry, else 0)
 * and the groups that list the user as a member.
 * @throws {InvalidArgumentError} When a name is not in the files.
 * @example
 * ```ts
 * resolveUser("nobody", { passwd: "nobody:x:65534:65534::/:/bin/false\n", group: "" });
 * // { uid: 65534, gid: 65534, additionalGids: [], name: "nobody", home: "/" }
 * ```
 */
export function resolveUser(user: string, files: AccountFiles): ResolvedUser {
  const [userPart = "", groupPart, ...rest] = user.split(":");
  if (rest.length > 0 || /[\s\0]/.test(user)) {
    throw new InvalidArgumentError(`Invalid user ${JSON.stringify(user)}: expected user[:group]`);
  }
  const passwd = parsePasswd(files.passwd);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (userPart === "") {
    uid = 0;
    entry = passwd.find((p) => p.uid === 0);
  } else if (ID.test(userPart)) {
    uid = numericId(userPart, "User id");
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new InvalidArgumentError(`Cannot find user "${userPart}" in the image's /etc/passwd`);
    }
    uid = entry.uid;
  }
  const groups = parseGroup(files.group);
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== "") {
    if (ID.test(groupPart)) gid = numericId(groupPart, "Group id");
    else {
      const g = groups.find((g) => g.name === groupPart);
      if (!g) {
        throw new InvalidArgumentError(
          `Cannot find group "${groupPart}" in the image's /etc/group`,
        );
      }
      gid = g.gid;
    }
  }
  const additionalGids: number[] = [];
  if (entry) {
    for (const g of groups) {
      if (g.members.includes(entry.name) && !additionalGids.includes(g.gid)) {
        additionalGids.push(g.gid);
      }
    }
  }
  const out: ResolvedUser = { uid, gid, additionalGids };
  if (entry) {
    out.name = entry.name;
    out.home = entry.home;
  }
  return out;
}

/** The user fields of a CRI `LinuxContainerSecurityContext`. */
export interface UserSecurityInput {
  run_as_user: Int64Value | null;
  run_as_group: Int64Value | null;
  run_as_username: string;
  supplemental_groups: readonly string[];
  supplemental_groups_policy: SupplementalGroupsPolicy;
}

/**
 * Resolves a container's user with Kubernetes precedence: `run_as_user` (numeric), else
 * `run_as_username`, else the image's `User`; `run_as_group` overrides the primary group;
 * `supplemental_groups` are added; with policy `Strict` the groups of /etc/group are not.
 *
 * @param sc The security context (null for none).
 * @param options The image's `User` and the account files.
 * @throws {InvalidArgumentError} For negative ids, `run_as_group` without a user, or names
 * that are not in the files.
 */
export function resolveContainerUser(
  sc: UserSecurityInput | null,
  options: { imageUser: string; files: AccountFiles },
): ResolvedUser {
  const field = "linux.security_context";
  const id = (v: Int64Value, f: string) => {
    const n = int64(v.value, `${field}.${f}`);
    if (n < 0 || n > MAX_ID) {
      throw new InvalidArgumentError(`${field}.${f} must be between 0 and ${MAX_ID}, got ${n}`);
    }
    return n;
  };
  let user: string;
  if (sc?.run_as_user) user = String(id(sc.run_as_user, "run_as_user"));
  else if (sc?.run_as_username) user = sc.run_as_username;
  else user = options.imageUser.split(":")[0] ?? "";
  if (sc?.run_as_group && !sc.run_as_user && !sc.run_as_username) {
    throw new InvalidArgumentError(`${field}.run_as_group needs run_as_user or run_as_username`);
  }
  // The image's group applies only when the image's user does.
  const imageGroup = !sc?.run_as_user && !sc?.run_as_username
    ? options.imageUser.split(":")[1]
    : undefined;
  const resolved = resolveUser(imageGroup ? `${user}:${imageGroup}` : user, options.files);
  if (sc?.run_as_group) resolved.gid = id(sc.run_as_group, "run_as_group");
  if (sc?.supplemental_groups_policy === "Strict") resolved.additionalGids = [];
  for (const [i, g] of (sc?.supplemental_groups ?? []).entries()) {
    const n = id({ value: g }, `supplemental_groups[${i}]`);
    if (!resolved.additionalGids.includes(n)) resolved.additionalGids.push(n);
  }
  resolved.additionalGids = withPrimaryGroup(resolved.gid, resolved.additionalGids);
  return resolved;
}

/**
 * The supplementary groups a process gets: `groups` with its primary group first unless it is
 * among them, as containerd (`ensureAdditionalGids`), CRI-O and podman do. Without it, a process
 * that changes its effective group (running a setgid program) leaves its primary group
 * behind, and with it any restriction a file sets on that group (moby's GHSA-rc4r-wh2q-q6c4,
 * containerd's CVE-2023-25173, cri-o#6159). `/proc/<pid>/status`, ContainerStatus
 * and critest's SupplementalGroupsPolicy specs expect it too.
 *
 * @param gid The primary group.
 * @param groups The supplementary groups so far.
 * @returns A new list.
 */
export function withPrimaryGroup(gid: number, groups: readonly number[]): number[] {
  return groups.includes(gid) ? [...groups] : [gid, ...groups];
}
