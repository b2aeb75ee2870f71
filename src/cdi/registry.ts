/**
 * The CDI spec files of a node, read when a container asks for CDI devices: every `.json` and
 * `.yaml` file under the spec dirs (`cdi_spec_dirs`, default `/etc/cdi` then `/var/run/cdi`,
 * subdirectories included, names in sorted order), each checked against the CDI spec (0.3.0
 * up to 1.x: `cdiVersion`, `kind`, at least one device, valid names and edits). A device
 * defined in a later dir overrides an earlier dir's; defined twice within one dir it is a
 * conflict and resolves to nothing. A file that cannot be read or is invalid is left out, and
 * its error is told to whoever asks for a device it might have defined.
 *
 * Read on every request (no cache, no watch): vendors write their files at any time (the NVIDIA
 * toolkit regenerates `/var/run/cdi/nvidia.yaml`), a node has few of them, and a container that
 * asks for no device reads nothing.
 *
 * @module
 */
import { isObject } from "../json_shape.ts";
import { HOOK_STAGES } from "../spec/types.ts";
import { extname, join } from "node:path";
import { FailedPreconditionError, NotFoundError } from "../errors.ts";
import { isDeviceAccess } from "../host/devices.ts";
import { namePartProblem, parseQualifiedName } from "./names.ts";

/** `deviceNodes[]` of CDI container edits. */
export interface CdiDeviceNode {
  path: string;
  hostPath?: string;
  type?: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  permissions?: string;
  uid?: number;
  gid?: number;
}

/** `mounts[]` of CDI container edits. */
export interface CdiMount {
  hostPath: string;
  containerPath: string;
  type?: string;
  options?: string[];
}

/** `hooks[]` of CDI container edits. */
export interface CdiHook {
  hookName: string;
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** `intelRdt` of CDI container edits (0.7.0), as the OCI spec's `linux.intelRdt`. */
export interface CdiIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  enableCMT?: boolean;
  enableMBM?: boolean;
}

/** `containerEdits`: what a spec or a device changes in a container's OCI spec. */
export interface CdiContainerEdits {
  env?: string[];
  deviceNodes?: CdiDeviceNode[];
  mounts?: CdiMount[];
  hooks?: CdiHook[];
  intelRdt?: CdiIntelRdt;
  additionalGids?: number[];
}

/** A spec file, checked. */
export interface CdiSpec {
  /** Where it was read. */
  path: string;
  cdiVersion: string;
  kind: string;
  devices: { name: string; containerEdits?: CdiContainerEdits }[];
  containerEdits?: CdiContainerEdits;
}

/** Where a device name was found. */
interface Definition {
  spec: CdiSpec;
  index: number;
  priority: number;
}

/** The devices of a node's spec files. */
export interface CdiRegistry {
  /** `vendor.com/class=name` to its definition. */
  devices: Map<string, Definition>;
  /** Names defined twice at the highest priority that defines them, with the two files. */
  conflicts: Map<string, [string, string]>;
  /** Files left out, with why. */
  errors: { path: string; message: string }[];
}

/** The names of OCI hooks a CDI hook may have: the spec's stages. */
export const CDI_HOOK_NAMES = HOOK_STAGES;

/** File operations of {@linkcode loadCdiRegistry}; tests pass fakes. */
export interface CdiFs {
  /** Entries of a directory; throws NotFound when it does not exist. */
  readDir(
    dir: string,
  ): Promise<{ name: string; isFile: boolean; isDirectory: boolean; isSymlink: boolean }[]>;
  readTextFile(path: string): Promise<string>;
}

const denoFs: CdiFs = {
  readDir: (dir) => Array.fromAsync(Deno.readDir(dir)),
  readTextFile: (path) => Deno.readTextFile(path),
};

/**
 * Reads the spec files under `dirs` (later dirs win).
 *
 * @param dirs the spec dirs, lowest priority first; missing ones are skipped
 * @param fs file operations
 */
export async function loadCdiRegistry(
  dirs: readonly string[],
  fs: CdiFs = denoFs,
): Promise<CdiRegistry> {
  const registry: CdiRegistry = { devices: new Map(), conflicts: new Map(), errors: [] };
  for (const [priority, dir] of dirs.entries()) {
    for (const path of await specFiles(dir, fs, registry)) {
      let spec: CdiSpec;
      try {
        spec = checkSpec(path, await parseFile(path, await fs.readTextFile(path)));
      } catch (err) {
        registry.errors.push({ path, message: (err as Error).message });
        continue;
      }
      for (const [index, device] of spec.devices.entries()) {
        const name = `${spec.kind}=${device.name}`;
        const old = registry.devices.get(name);
        if (old && old.priority === priority) {
          registry.conflicts.set(name, [old.spec.path, path]);
          continue;
        }
        registry.conflicts.delete(name);
        registry.devices.set(name, { spec, index, priority });
      }
    }
  }
  for (const name of registry.conflicts.keys()) registry.devices.delete(name);
  return registry;
}

/** The `.json` and `.yaml` files under `dir`, subdirectories included, in sorted order. */
async function specFiles(dir: string, fs: CdiFs, registry: CdiRegistry): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readDir(dir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    registry.errors.push({ path: dir, message: (err as Error).message });
    return [];
  }
  const files: string[] = [];
  for (const e of entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) {
    const path = join(dir, e.name);
    if (e.isDirectory) files.push(...await specFiles(path, fs, registry));
    // A link is read as the file it names (as the reference's walk does).
    else if ((e.isFile || e.isSymlink) && [".json", ".yaml"].includes(extname(e.name))) {
      files.push(path);
    }
  }
  return files;
}

async function parseFile(path: string, text: string): Promise<unknown> {
  if (extname(path) === ".json") return JSON.parse(text);
  // Loaded only on a node that has a YAML spec file, when a container asks for a device.
  const { parse } = await import("yaml");
  return parse(text);
}

/**
 * The edits that make a container use `names`, in the order to apply them: for each device, its
 * spec file's own edits (once per file, before its first device), then the device's.
 *
 * @throws {NotFoundError} naming every device no file defines (and the files left out)
 * @throws {FailedPreconditionError} for a device two files of one dir define
 */
export function resolveCdiDevices(
  registry: CdiRegistry,
  names: readonly string[],
): CdiContainerEdits[] {
  const conflicting = names.filter((n) => registry.conflicts.has(n));
  if (conflicting.length > 0) {
    throw new FailedPreconditionError(
      `Cannot use CDI devices defined twice: ${
        conflicting.map((n) => `${n} (in ${registry.conflicts.get(n)!.join(" and ")})`).join(", ")
      }`,
    );
  }
  const missing = names.filter((n) => !registry.devices.has(n));
  if (missing.length > 0) {
    const errors = registry.errors.map((e) => `${e.path}: ${e.message}`);
    throw new NotFoundError(
      `Cannot find CDI devices ${missing.join(", ")} in the CDI spec files` +
        (errors.length > 0 ? ` (files left out: ${errors.join("; ")})` : ""),
    );
  }
  const edits: CdiContainerEdits[] = [];
  const seen = new Set<CdiSpec>();
  for (const name of names) {
    const { spec, index } = registry.devices.get(name)!;
    if (!seen.has(spec)) {
      seen.add(spec);
      if (spec.containerEdits) edits.push(spec.containerEdits);
    }
    const own = spec.devices[index]!.containerEdits;
    if (own) edits.push(own);
  }
  return edits;
}

// --- checking a spec file -------------------------------------------------------------------

class SpecError extends Error {}

function fail(message: string): never {
  throw new SpecError(message);
}

function str(v: unknown, field: string, required = true): string | undefined {
  if (v === undefined || v === null) return required ? fail(`missing ${field}`) : undefined;
  return typeof v === "string" ? v : fail(`${field} must be a string`);
}

function strings(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) {
    fail(`${field} must be a list of strings`);
  }
  return v as string[];
}

function uint(v: unknown, field: string, max = 0xffff_ffff): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    fail(`${field} must be a whole number from 0 to ${max}`);
  }
  return v;
}

function absolute(v: string, field: string): string {
  return v.startsWith("/") ? v : fail(`${field} must be an absolute path, got "${v}"`);
}

function envList(v: unknown, field: string): string[] | undefined {
  const list = strings(v, field);
  for (const e of list ?? []) {
    if (e.indexOf("=") <= 0) fail(`${field} entry "${e}" is not NAME=value`);
  }
  return list;
}

/** `0.3.0` up to any `1.x.y`: the versions of the CDI spec this reader knows. */
function checkVersion(v: string): void {
  const m = v.match(/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:[-+].*)?$/);
  if (!m) fail(`cdiVersion "${v}" is not a semantic version`);
  const [major, minor] = [Number(m[1]), Number(m[2])];
  if ((major === 0 && minor < 3) || major > 1) fail(`cdiVersion "${v}" is not supported`);
}

function checkEdits(v: unknown, field: string): CdiContainerEdits | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) fail(`${field} must be an object`);
  const edits: CdiContainerEdits = {};
  const env = envList(v.env, `${field}.env`);
  if (env) edits.env = env;
  if (v.deviceNodes !== undefined && v.deviceNodes !== null) {
    if (!Array.isArray(v.deviceNodes)) fail(`${field}.deviceNodes must be a list`);
    edits.deviceNodes = v.deviceNodes.map((d, i) =>
      checkDeviceNode(d, `${field}.deviceNodes[${i}]`)
    );
  }
  if (v.mounts !== undefined && v.mounts !== null) {
    if (!Array.isArray(v.mounts)) fail(`${field}.mounts must be a list`);
    edits.mounts = v.mounts.map((m, i) => {
      const f = `${field}.mounts[${i}]`;
      if (!isObject(m)) fail(`${f} must be an object`);
      const mount: CdiMount = {
        hostPath: str(m.hostPath, `${f}.hostPath`)!,
        containerPath: absolute(str(m.containerPath, `${f}.containerPath`)!, `${f}.containerPath`),
      };
      if (mount.hostPath === "") fail(`${f}.hostPath is empty`);
      const type = str(m.type, `${f}.type`, false);
      if (type) mount.type = type;
      const options = strings(m.options, `${f}.options`);
      if (options) mount.options = options;
      return mount;
    });
  }
  if (v.hooks !== undefined && v.hooks !== null) {
    if (!Array.isArray(v.hooks)) fail(`${field}.hooks must be a list`);
    edits.hooks = v.hooks.map((h, i) => {
      const f = `${field}.hooks[${i}]`;
      if (!isObject(h)) fail(`${f} must be an object`);
      const hookName = str(h.hookName, `${f}.hookName`)!;
      if (!(CDI_HOOK_NAMES as readonly string[]).includes(hookName)) {
        fail(`${f}.hookName "${hookName}" is not one of ${CDI_HOOK_NAMES.join(", ")}`);
      }
      const hook: CdiHook = { hookName, path: absolute(str(h.path, `${f}.path`)!, `${f}.path`) };
      const args = strings(h.args, `${f}.args`);
      if (args) hook.args = args;
      const env = envList(h.env, `${f}.env`);
      if (env) hook.env = env;
      const timeout = uint(h.timeout, `${f}.timeout`, 0x7fff_ffff);
      if (timeout !== undefined) {
        if (timeout === 0) fail(`${f}.timeout must be greater than zero`);
        hook.timeout = timeout;
      }
      return hook;
    });
  }
  if (v.intelRdt !== undefined && v.intelRdt !== null) {
    const r = v.intelRdt;
    if (!isObject(r)) fail(`${field}.intelRdt must be an object`);
    const rdt: CdiIntelRdt = {};
    for (const k of ["closID", "l3CacheSchema", "memBwSchema"] as const) {
      const s = str(r[k], `${field}.intelRdt.${k}`, false);
      if (s) rdt[k] = s;
    }
    for (const k of ["enableCMT", "enableMBM"] as const) {
      if (r[k] === undefined || r[k] === null) continue;
      if (typeof r[k] !== "boolean") fail(`${field}.intelRdt.${k} must be true or false`);
      rdt[k] = r[k];
    }
    if (rdt.closID !== undefined && !/^[^/\s.][^/\s]*$/.test(rdt.closID)) {
      fail(`${field}.intelRdt.closID "${rdt.closID}" is not a valid name`);
    }
    edits.intelRdt = rdt;
  }
  if (v.additionalGids !== undefined && v.additionalGids !== null) {
    if (!Array.isArray(v.additionalGids)) fail(`${field}.additionalGids must be a list`);
    edits.additionalGids = v.additionalGids.map((g, i) =>
      uint(g, `${field}.additionalGids[${i}]`)!
    );
  }
  return edits;
}

function checkDeviceNode(d: unknown, field: string): CdiDeviceNode {
  if (!isObject(d)) fail(`${field} must be an object`);
  const node: CdiDeviceNode = { path: absolute(str(d.path, `${field}.path`)!, `${field}.path`) };
  const hostPath = str(d.hostPath, `${field}.hostPath`, false);
  if (hostPath) node.hostPath = absolute(hostPath, `${field}.hostPath`);
  const type = str(d.type, `${field}.type`, false);
  if (type) {
    if (!["b", "c", "u", "p"].includes(type)) fail(`${field}.type "${type}" is not b, c, u or p`);
    node.type = type;
  }
  for (const k of ["major", "minor", "fileMode", "uid", "gid"] as const) {
    const n = uint(d[k], `${field}.${k}`);
    if (n !== undefined) node[k] = n;
  }
  const permissions = str(d.permissions, `${field}.permissions`, false);
  if (permissions) {
    if (!isDeviceAccess(permissions)) {
      fail(`${field}.permissions "${permissions}" must be letters of "rwm"`);
    }
    node.permissions = permissions;
  }
  return node;
}

/** Checks a parsed spec file; throws what is wrong with it. */
export function checkSpec(path: string, raw: unknown): CdiSpec {
  if (!isObject(raw)) fail("not a CDI spec (an object is expected)");
  const cdiVersion = str(raw.cdiVersion, "cdiVersion")!;
  checkVersion(cdiVersion);
  const kind = str(raw.kind, "kind")!;
  const slash = kind.indexOf("/");
  const kindProblem = slash <= 0
    ? `kind "${kind}" must be vendor.com/class`
    : namePartProblem("vendor", kind.slice(0, slash)) ??
      namePartProblem("class", kind.slice(slash + 1));
  if (kindProblem) fail(kindProblem);
  if (!Array.isArray(raw.devices) || raw.devices.length === 0) fail("devices must list a device");
  const names = new Set<string>();
  const devices = raw.devices.map((d, i) => {
    if (!isObject(d)) fail(`devices[${i}] must be an object`);
    const name = str(d.name, `devices[${i}].name`)!;
    const problem = namePartProblem("device", name);
    if (problem) fail(problem);
    if (names.has(name)) fail(`device "${name}" is defined twice`);
    names.add(name);
    // The whole name must parse too (it is how the device is asked for).
    parseQualifiedName(`${kind}=${name}`);
    const edits = checkEdits(d.containerEdits, `devices[${i}].containerEdits`);
    return edits ? { name, containerEdits: edits } : { name };
  });
  const spec: CdiSpec = { path, cdiVersion, kind, devices };
  const edits = checkEdits(raw.containerEdits, "containerEdits");
  if (edits) spec.containerEdits = edits;
  return spec;
}
