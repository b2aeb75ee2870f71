/**
 * The capabilities this host lets ocid hand out: the daemon's own bounding set, read once at
 * start from `/proc/self/status` (`CapBnd`). A container may never hold a capability outside
 * it: runc fails with "unable to apply caps: operation not permitted". So "all capabilities"
 * (privileged containers and sandboxes, `add_capabilities: ["ALL"]`) means every capability of
 * this set, as containerd does with the capabilities it holds itself.
 *
 * @module
 */
import { ALL_CAPABILITIES } from "../spec/default.ts";

/** What the host allows; builders take it as a plain value, so tests pass any set. */
export interface HostCapabilities {
  /** Capabilities in the daemon's bounding set, `CAP_` names in kernel order. */
  readonly bounding: readonly string[];
  /** Capabilities Linux knows (ocid's table) that the bounding set lacks, kernel order. */
  readonly missing: readonly string[];
}

/**
 * Makes a {@linkcode HostCapabilities} from the names of a bounding set.
 *
 * @param bounding `CAP_` names; names outside ocid's table are ignored.
 * @returns The set in kernel order and what it lacks.
 * @example
 * ```ts
 * const host = hostCapabilities(ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE"));
 * host.missing; // ["CAP_SYS_RESOURCE"]
 * ```
 */
export function hostCapabilities(bounding: Iterable<string>): HostCapabilities {
  const have = new Set(bounding);
  return {
    bounding: ALL_CAPABILITIES.filter((c) => have.has(c)),
    missing: ALL_CAPABILITIES.filter((c) => !have.has(c)),
  };
}

/**
 * Reads the `CapBnd:` mask of a `/proc/<pid>/status` text. Pure.
 *
 * @param status The text of `/proc/<pid>/status`.
 * @returns The capabilities whose bits are set (bit n is capability number n).
 * @throws {TypeError} When the text has no `CapBnd:` line.
 */
export function parseCapBnd(status: string): HostCapabilities {
  const match = /^CapBnd:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  if (!match?.[1]) throw new TypeError("No CapBnd line in the process status");
  const mask = BigInt(`0x${match[1]}`);
  return hostCapabilities(ALL_CAPABILITIES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n));
}

/** Options of {@linkcode probeHostCapabilities}. */
export interface ProbeOptions {
  /** Reads the daemon's status text. @default reads /proc/self/status */
  readStatus?: () => string;
}

/**
 * Probes the daemon's bounding set.
 *
 * @param options Where the status text comes from (tests pass a fake).
 * @returns The host's capabilities.
 * @throws {Error} When the status cannot be read or has no `CapBnd:` line: guessing "all"
 * would make every privileged container fail at `runc create`, so the daemon should not start.
 */
export function probeHostCapabilities(options: ProbeOptions = {}): HostCapabilities {
  const read = options.readStatus ?? (() => Deno.readTextFileSync("/proc/self/status"));
  try {
    return parseCapBnd(read());
  } catch (error) {
    throw new Error(
      `Cannot read the daemon's capability bounding set: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
