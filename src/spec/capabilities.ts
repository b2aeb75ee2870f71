/**
 * Capability sets from the CRI `Capability` message, with Kubernetes semantics.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from "./default.ts";
import type { Capabilities } from "./types.ts";

const KNOWN = new Set(ALL_CAPABILITIES);

/**
 * Normalizes a capability name: `net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` all become
 * `CAP_NET_ADMIN`; `ALL` stays `ALL`.
 *
 * @throws {InvalidArgumentError} For a name Linux does not know.
 */
export function normalizeCapability(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === "ALL") return "ALL";
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!KNOWN.has(full)) {
    throw new InvalidArgumentError(`Unknown capability ${JSON.stringify(name)} in ${field}`);
  }
  return full;
}

/** The CRI capability lists, as decoded. */
export interface CapabilityInput {
  add_capabilities: readonly string[];
  drop_capabilities: readonly string[];
  add_ambient_capabilities: readonly string[];
}

/**
 * Computes a container's capabilities: `ALL` in add grants every capability, `ALL` in drop
 * removes every one (applied after an `ALL` add), then single names are added, then single
 * names dropped. Ambient capabilities are added to every set.
 *
 * @param input The CRI `capabilities` (null for none given).
 * @param options `privileged` grants everything regardless; `field` names the request field.
 * @returns `process.capabilities`.
 * @throws {InvalidArgumentError} For an unknown capability name.
 */
export function buildCapabilities(
  input: CapabilityInput | null,
  options: { privileged: boolean; field: string },
): Capabilities {
  const { field } = options;
  if (options.privileged) return allSets([...ALL_CAPABILITIES], []);
  const add = (input?.add_capabilities ?? []).map((c) =>
    normalizeCapability(c, `${field}.add_capabilities`)
  );
  const drop = (input?.drop_capabilities ?? []).map((c) =>
    normalizeCapability(c, `${field}.drop_capabilities`)
  );
  const ambient = (input?.add_ambient_capabilities ?? []).map((c) =>
    normalizeCapability(c, `${field}.add_ambient_capabilities`)
  );
  if (ambient.includes("ALL")) {
    throw new InvalidArgumentError(`"ALL" is not allowed in ${field}.add_ambient_capabilities`);
  }
  let caps = new Set<string>(DEFAULT_CAPABILITIES);
  if (add.includes("ALL")) caps = new Set(ALL_CAPABILITIES);
  if (drop.includes("ALL")) caps = new Set();
  for (const c of add) if (c !== "ALL") caps.add(c);
  for (const c of drop) if (c !== "ALL") caps.delete(c);
  for (const c of ambient) caps.add(c);
  return allSets(ALL_CAPABILITIES.filter((c) => caps.has(c)), ambient);
}

function allSets(caps: string[], ambient: string[]): Capabilities {
  const out: Capabilities = {
    bounding: [...caps],
    effective: [...caps],
    permitted: [...caps],
  };
  if (ambient.length > 0) {
    out.inheritable = [...ambient];
    out.ambient = [...ambient];
  }
  return out;
}
