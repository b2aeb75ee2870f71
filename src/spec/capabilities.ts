/**
 * Capability sets from the CRI `Capability` message, with Kubernetes semantics.
 *
 * @module
 */
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";
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

/** Options of {@linkcode buildCapabilities}. */
export interface BuildCapabilitiesOptions {
  /** A privileged container or sandbox gets every capability of `available`. */
  privileged: boolean;
  /** The request field holding the capabilities, for messages. */
  field: string;
  /**
   * The daemon's bounding set (see `src/host/capabilities.ts`): "every capability" means
   * these, and a container may hold no other.
   */
  available: readonly string[];
  /**
   * What a container starts from (normalized names: the node's `default_capabilities`).
   * @default DEFAULT_CAPABILITIES (containerd's)
   */
  defaults?: readonly string[];
}

/**
 * Computes a container's capabilities, as containerd and CRI-O do: start from the defaults
 * (`options.defaults`);
 * `ALL` in add grants every available capability, `ALL` in drop removes every one (after an
 * `ALL` add), then single names are added, then single names dropped. Ambient capabilities
 * are added to every set. Defaults the host lacks are left out (the daemon logs them at
 * start).
 *
 * @param input The CRI `capabilities` (null for none given).
 * @param options Privilege, the request field, the host's bounding set.
 * @returns `process.capabilities`.
 * @throws {InvalidArgumentError} For an unknown capability name or an ambient `ALL`.
 * @throws {FailedPreconditionError} When a capability named in add or ambient is not in the
 * host's bounding set.
 */
export function buildCapabilities(
  input: CapabilityInput | null,
  options: BuildCapabilitiesOptions,
): Capabilities {
  const { field } = options;
  const available = new Set(options.available);
  const all = ALL_CAPABILITIES.filter((c) => available.has(c));
  if (options.privileged) return allSets(all, []);
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
  const named: [string[], string][] = [
    [add, "add_capabilities"],
    [ambient, "add_ambient_capabilities"],
  ];
  for (const [list, name] of named) {
    const lacking = list.filter((c) => c !== "ALL" && !available.has(c));
    if (lacking.length > 0) {
      throw new FailedPreconditionError(
        `Capabilities ${lacking.join(", ")} in ${field}.${name} are not in ocid's bounding set ` +
          `on this host`,
      );
    }
  }
  const defaults = options.defaults ?? DEFAULT_CAPABILITIES;
  let caps = new Set<string>(defaults.filter((c) => available.has(c)));
  if (add.includes("ALL")) caps = new Set(all);
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
