/**
 * Applies CDI container edits to a container's OCI spec, as the CDI reference implementation
 * does (container-device-interface `pkg/cdi`, which containerd and CRI-O call):
 *
 * - `env`: each `NAME=value` replaces the variable of that name, else is appended;
 * - `deviceNodes`: a node replaces the spec's device at the same path; a block or character
 *   device also gets a device-cgroup allow rule (`permissions`, default `rwm`). What a node
 *   leaves out (type, numbers, mode) is read from its host path (`path` when none) when the
 *   container is created: a node that is not there then fails the create. Without its own
 *   uid/gid it belongs to the process's user and group when those are not root;
 * - `mounts`: a mount replaces the spec's at the same destination; then the mounts are put in
 *   order of depth (parents first, stable);
 * - `hooks`: appended to the OCI hook of their `hookName`;
 * - `additionalGids`: added to the process's supplementary groups (0 is ignored);
 * - `intelRdt`: becomes `linux.intelRdt`.
 *
 * @module
 */
import { decodeRdev } from "../host/devices.ts";
import { FailedPreconditionError } from "../errors.ts";
import type { Device, DeviceCgroup, Hooks, Spec } from "../spec/types.ts";
import type { CdiContainerEdits, CdiDeviceNode } from "./registry.ts";

/** A host path's node type and numbers. */
export interface HostNode {
  /** `c`, `b` or `p`; undefined when it is no device node or FIFO. */
  type: "c" | "b" | "p" | undefined;
  major: number;
  minor: number;
  /** Permission bits. */
  mode: number;
}

/** Reads a host node (following symlinks); throws when it does not exist. */
export type StatHostNode = (path: string) => Promise<HostNode>;

/** The default {@linkcode StatHostNode}, on `Deno.stat`. */
export const statHostNode: StatHostNode = async (path) => {
  const st = await Deno.stat(path);
  const type = st.isCharDevice ? "c" : st.isBlockDevice ? "b" : st.isFifo ? "p" : undefined;
  const { major, minor } = st.rdev ? decodeRdev(st.rdev) : { major: 0, minor: 0 };
  return { type, major, minor, mode: (st.mode ?? 0) & 0o7777 };
};

/**
 * Fills in what the edits' device nodes leave out, from the host.
 *
 * @returns copies of the edits whose device nodes have type, numbers and mode
 * @throws {FailedPreconditionError} when a node's host path is missing or is no device node,
 *   or is of another type than the spec says
 */
export async function completeDeviceNodes(
  edits: readonly CdiContainerEdits[],
  stat: StatHostNode = statHostNode,
): Promise<CdiContainerEdits[]> {
  return await Promise.all(edits.map(async (e) => {
    if (!e.deviceNodes) return e;
    return { ...e, deviceNodes: await Promise.all(e.deviceNodes.map((d) => complete(d, stat))) };
  }));
}

async function complete(d: CdiDeviceNode, stat: StatHostNode): Promise<CdiDeviceNode> {
  if (d.type === "p") return d;
  if (d.type && d.major !== undefined) return { ...d, minor: d.minor ?? 0 };
  const hostPath = d.hostPath ?? d.path;
  let host: HostNode;
  try {
    host = await stat(hostPath);
  } catch (err) {
    throw new FailedPreconditionError(
      `Cannot use CDI device node "${d.path}": host path "${hostPath}": ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!host.type) {
    throw new FailedPreconditionError(
      `Cannot use CDI device node "${d.path}": host path "${hostPath}" is not a device node`,
    );
  }
  if (d.type && d.type !== host.type) {
    throw new FailedPreconditionError(
      `Cannot use CDI device node "${d.path}": its type is "${d.type}" but host path ` +
        `"${hostPath}" is of type "${host.type}"`,
    );
  }
  const out: CdiDeviceNode = { ...d, type: host.type };
  if (host.type === "p") return out;
  out.major = host.major;
  out.minor = host.minor;
  if (out.fileMode === undefined) out.fileMode = host.mode;
  return out;
}

/**
 * Applies completed edits (see {@linkcode completeDeviceNodes}) to `spec`, in order.
 *
 * @param spec the container's spec; changed in place
 */
export function applyCdiEdits(spec: Spec, edits: readonly CdiContainerEdits[]): void {
  let mountsAdded = false;
  for (const e of edits) {
    for (const kv of e.env ?? []) setEnv(spec, kv);
    for (const d of e.deviceNodes ?? []) addDeviceNode(spec, d);
    for (const m of e.mounts ?? []) {
      const mounts = (spec.mounts ?? []).filter((x) => x.destination !== m.containerPath);
      mounts.push({
        destination: m.containerPath,
        source: m.hostPath,
        ...(m.type ? { type: m.type } : {}),
        ...(m.options ? { options: [...m.options] } : {}),
      });
      spec.mounts = mounts;
      mountsAdded = true;
    }
    for (const h of e.hooks ?? []) {
      const hooks: Hooks = spec.hooks ??= {};
      const list = hooks[h.hookName as keyof Hooks] ??= [];
      list.push({
        path: h.path,
        ...(h.args ? { args: [...h.args] } : {}),
        ...(h.env ? { env: [...h.env] } : {}),
        ...(h.timeout !== undefined ? { timeout: h.timeout } : {}),
      });
    }
    for (const gid of e.additionalGids ?? []) {
      if (gid === 0 || !spec.process) continue;
      const gids = spec.process.user.additionalGids ??= [];
      if (!gids.includes(gid)) gids.push(gid);
    }
    if (e.intelRdt) (spec.linux ??= {}).intelRdt = { ...e.intelRdt };
  }
  if (mountsAdded && spec.mounts) {
    const depth = (p: string) => p.split("/").filter((s) => s !== "" && s !== ".").length;
    spec.mounts = spec.mounts
      .map((m, i) => ({ m, i, d: depth(m.destination) }))
      .sort((a, b) => a.d - b.d || a.i - b.i)
      .map((x) => x.m);
  }
}

function setEnv(spec: Spec, kv: string): void {
  if (!spec.process) return;
  const name = kv.slice(0, kv.indexOf("=") + 1);
  const env = spec.process.env ?? [];
  const at = env.findIndex((e) => e.startsWith(name));
  if (at >= 0) env[at] = kv;
  else env.push(kv);
  spec.process.env = env;
}

function addDeviceNode(spec: Spec, d: CdiDeviceNode): void {
  const linux = spec.linux ??= {};
  const device: Device = { type: d.type!, path: d.path };
  if (d.major !== undefined) device.major = d.major;
  if (d.minor !== undefined) device.minor = d.minor;
  if (d.fileMode !== undefined) device.fileMode = d.fileMode;
  const user = spec.process?.user;
  const uid = d.uid ?? (user && user.uid > 0 ? user.uid : undefined);
  const gid = d.gid ?? (user && user.gid > 0 ? user.gid : undefined);
  if (uid !== undefined) device.uid = uid;
  if (gid !== undefined) device.gid = gid;
  linux.devices = [...(linux.devices ?? []).filter((x) => x.path !== d.path), device];
  if (device.type === "b" || device.type === "c") {
    const rule: DeviceCgroup = {
      allow: true,
      type: device.type,
      major: device.major!,
      minor: device.minor!,
      access: d.permissions ?? "rwm",
    };
    const resources = linux.resources ??= {};
    resources.devices = [...(resources.devices ?? []), rule];
  }
}
