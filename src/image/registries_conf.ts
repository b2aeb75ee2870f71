/**
 * containers-registries.conf(5): which hosts serve a repository (mirrors, then upstream),
 * which are plain HTTP and which are blocked.
 *
 * Supported: `[[registry]]` with `prefix`, `location`, `insecure`, `blocked`,
 * `mirror-by-digest-only` and `[[registry.mirror]]` with `location`, `insecure`,
 * `pull-from-mirror` (`all`, `digest-only`: pulls by digest only, `tag-only`: by tag only); a
 * `*.example.com` wildcard prefix; the V1 tables `[registries.insecure]` and
 * `[registries.block]`. Not supported: `unqualified-search-registries` (short names always
 * mean docker.io, as kubelet assumes) and `short-name-mode` / aliases.
 *
 * @module
 */
import { parse } from "smol-toml";
import { InvalidArgumentError, OcidError } from "../errors.ts";
import type { ImageReference } from "./reference.ts";

/** One `[[registry]]` table. */
export interface RegistryEntry {
  prefix: string;
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: Mirror[];
}

/** One `[[registry.mirror]]` table. */
export interface Mirror {
  location: string;
  insecure: boolean;
  /** `pull-from-mirror`: which pulls may use it. */
  pullFromMirror: "all" | "digest-only" | "tag-only";
}

const PULL_FROM_MIRROR = ["all", "digest-only", "tag-only"] as const;

/** A parsed registries.conf. */
export interface RegistriesConf {
  registries: RegistryEntry[];
}

/** A place to pull a reference from: a mirror or the upstream registry. */
export interface Endpoint {
  /** Host with optional port. */
  registry: string;
  /** Repository path on that host (rewritten by `location`). */
  repository: string;
  /** Plain HTTP allowed. */
  insecure: boolean;
  mirror: boolean;
}

/** An empty configuration (no file). */
export const EMPTY_REGISTRIES_CONF: RegistriesConf = { registries: [] };

function str(v: unknown, what: string, file: string): string {
  if (typeof v !== "string" || v === "") {
    throw new InvalidArgumentError(`Invalid registries config "${file}": ${what} must be a string`);
  }
  return v;
}

/**
 * Parses registries.conf text.
 *
 * @param text The TOML text.
 * @param file The file name, for error messages.
 * @throws {InvalidArgumentError} When the TOML or a table is malformed.
 */
export function parseRegistriesConf(text: string, file = "registries.conf"): RegistriesConf {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new InvalidArgumentError(`Cannot parse registries config "${file}": ${err}`, {
      cause: err,
    });
  }
  const registries: RegistryEntry[] = [];
  const list = doc["registry"];
  if (list !== undefined && !Array.isArray(list)) {
    throw new InvalidArgumentError(
      `Invalid registries config "${file}": registry must be [[registry]]`,
    );
  }
  for (const raw of (list ?? []) as Record<string, unknown>[]) {
    const location = raw["location"] === undefined
      ? undefined
      : str(raw["location"], "location", file);
    const prefix = raw["prefix"] === undefined ? location : str(raw["prefix"], "prefix", file);
    if (prefix === undefined) {
      throw new InvalidArgumentError(
        `Invalid registries config "${file}": a [[registry]] needs a prefix or a location`,
      );
    }
    const mirrorByDigestOnly = raw["mirror-by-digest-only"] === true;
    const mirrors = ((raw["mirror"] ?? []) as Record<string, unknown>[]).map((m): Mirror => {
      const location = str(m["location"], "mirror location", file);
      const usage = m["pull-from-mirror"] ?? "all";
      if (!PULL_FROM_MIRROR.includes(usage as Mirror["pullFromMirror"])) {
        throw new InvalidArgumentError(
          `Invalid registries config "${file}": pull-from-mirror of mirror "${location}" must ` +
            `be one of ${PULL_FROM_MIRROR.join(", ")}`,
        );
      }
      if (mirrorByDigestOnly && m["pull-from-mirror"] !== undefined) {
        throw new InvalidArgumentError(
          `Invalid registries config "${file}": mirror "${location}" sets pull-from-mirror ` +
            `while its registry sets mirror-by-digest-only`,
        );
      }
      return {
        location,
        insecure: m["insecure"] === true,
        pullFromMirror: usage as Mirror["pullFromMirror"],
      };
    });
    registries.push({
      prefix,
      location: location ?? (prefix.startsWith("*.") ? "" : prefix),
      insecure: raw["insecure"] === true,
      blocked: raw["blocked"] === true,
      mirrorByDigestOnly,
      mirrors,
    });
  }
  // V1 format.
  const v1 = doc["registries"] as Record<string, { registries?: unknown }> | undefined;
  for (const [kind, key] of [["insecure", "insecure"], ["block", "blocked"]] as const) {
    const hosts = v1?.[kind]?.registries;
    if (!Array.isArray(hosts)) continue;
    for (const host of hosts) {
      const h = str(host, `registries.${kind}.registries`, file);
      const existing = registries.find((r) => r.prefix === h);
      const entry = existing ?? {
        prefix: h,
        location: h,
        insecure: false,
        blocked: false,
        mirrorByDigestOnly: false,
        mirrors: [],
      };
      entry[key] = true;
      if (!existing) registries.push(entry);
    }
  }
  return { registries };
}

/**
 * Reads and parses registries.conf; a missing file is an empty configuration.
 *
 * @param path The file path (`Config.image.registriesConf`).
 */
export async function loadRegistriesConf(path: string): Promise<RegistriesConf> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return EMPTY_REGISTRIES_CONF;
    throw err;
  }
  return parseRegistriesConf(text, path);
}

function prefixMatches(prefix: string, name: string): boolean {
  if (prefix.startsWith("*.")) {
    const host = name.split("/")[0] ?? "";
    return host.endsWith(prefix.slice(1));
  }
  if (!name.startsWith(prefix)) return false;
  const next = name[prefix.length];
  return next === undefined || next === "/";
}

/** The `[[registry]]` entry with the longest prefix matching `registry/repository`. */
export function findRegistryEntry(
  conf: RegistriesConf,
  ref: Pick<ImageReference, "registry" | "repository">,
): RegistryEntry | undefined {
  const name = `${ref.registry}/${ref.repository}`;
  let best: RegistryEntry | undefined;
  for (const r of conf.registries) {
    if (!prefixMatches(r.prefix, name)) continue;
    if (!best || r.prefix.length > best.prefix.length) best = r;
  }
  return best;
}

/** Whether `host` (with optional port) is listed in `list` (entries with or without a port). */
export function hostListed(host: string, list: readonly string[]): boolean {
  const bare = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return list.some((h) => h === host || h === bare);
}

/**
 * Where to pull `ref` from, in order: mirrors first, then the upstream location.
 *
 * @param ref The normalised reference.
 * @param options The parsed registries.conf and the configured insecure hosts.
 * @throws {OcidError} PERMISSION_DENIED when the registry is blocked.
 */
export function resolveEndpoints(
  ref: ImageReference,
  options: { conf: RegistriesConf; insecureRegistries: readonly string[] },
): Endpoint[] {
  const name = `${ref.registry}/${ref.repository}`;
  const entry = findRegistryEntry(options.conf, ref);
  const isInsecure = (host: string, flag: boolean) =>
    flag || hostListed(host, options.insecureRegistries);
  const split = (full: string, insecure: boolean, mirror: boolean): Endpoint => {
    const slash = full.indexOf("/");
    const registry = full.slice(0, slash);
    return {
      registry,
      repository: full.slice(slash + 1),
      insecure: isInsecure(registry, insecure),
      mirror,
    };
  };
  if (!entry) return [split(name, false, false)];
  if (entry.blocked) {
    throw new OcidError(
      "PERMISSION_DENIED",
      `Registry "${entry.prefix}" is blocked in the registries config; cannot pull "${name}"`,
    );
  }
  const rewrite = (location: string) => {
    if (entry.prefix.startsWith("*.")) {
      return location === "" ? name : location + name.slice(name.indexOf("/"));
    }
    return location + name.slice(entry.prefix.length);
  };
  const out: Endpoint[] = [];
  const byDigest = ref.digest !== undefined;
  if (!entry.mirrorByDigestOnly || byDigest) {
    for (const m of entry.mirrors) {
      if (m.pullFromMirror === "digest-only" && !byDigest) continue;
      if (m.pullFromMirror === "tag-only" && byDigest) continue;
      out.push(split(rewrite(m.location), m.insecure, true));
    }
  }
  out.push(split(rewrite(entry.location), entry.insecure, false));
  return out;
}
