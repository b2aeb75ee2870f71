/**
 * Validation of the sysctls a pod asks for (`LinuxPodSandboxConfig.sysctls`). Only sysctls
 * that live in a namespace the pod owns are allowed, so a pod cannot change the host:
 * `kernel.shm*`, `kernel.msg*`, `kernel.sem` and `fs.mqueue.*` need the pod's own IPC
 * namespace, `net.*` its own network namespace.
 *
 * Values are written by the OCI runtime to `/proc/sys/<key>`. CRI-O's CVE-2022-0811 came
 * from joining sysctls as `k=v+k=v` for its helper: a value holding `+` smuggled in a
 * second, host-wide sysctl (`kernel.core_pattern`). CRI-O fixed it by passing each sysctl
 * as its own argument and validating names; ocid never joins sysctls, and still refuses
 * values with `+`, `=`, line breaks or NUL and names outside the safe grammar, so no later
 * consumer can split them.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";

/** Options of {@linkcode validateSysctls}. */
export interface SysctlOptions {
  /** The pod uses the host's network namespace: `net.*` is refused. */
  hostNetwork: boolean;
  /** The pod uses the host's IPC namespace: the IPC sysctls are refused. */
  hostIpc: boolean;
}

/**
 * A name: segments of letters, digits, `-` and `_` (starting and ending with a letter or
 * digit), separated by `.` or `/` (the slash form, where dots belong to an interface name).
 */
const NAME =
  /^[A-Za-z0-9](?:[-_A-Za-z0-9]*[A-Za-z0-9])?(?:[./][A-Za-z0-9](?:[-_A-Za-z0-9]*[A-Za-z0-9])?)*$/;
/** Characters a value may never hold: separators of `k=v+k=v` lists, line breaks, NUL. */
const BAD_VALUE = /[+=\n\r\0]/;
const MAX_VALUE_LENGTH = 4096;

const IPC_EXACT = new Set(["kernel.sem"]);
const IPC_PREFIXES = ["kernel.shm", "kernel.msg", "fs.mqueue."];

/** The namespace a sysctl belongs to, or undefined when it is not namespaced. */
export function sysctlNamespace(name: string): "ipc" | "net" | undefined {
  // Compare in dot form. The first separator tells the form: in the slash form
  // (`net/ipv4/conf/eth0.100/forwarding`) dots belong to names and are not separators.
  const slashForm = /^[^./]*\//.test(name);
  const dotted = slashForm ? name.replaceAll(".", "\u0000").replaceAll("/", ".") : name;
  if (IPC_EXACT.has(dotted) || IPC_PREFIXES.some((p) => dotted.startsWith(p))) return "ipc";
  if (dotted.startsWith("net.")) return "net";
  return undefined;
}

/**
 * Checks the sysctls of a pod and returns them as `linux.sysctl`.
 *
 * @param sysctls Name to value, as in the CRI request.
 * @param options Which namespaces the pod shares with the host.
 * @returns A new record with the same entries.
 * @throws {InvalidArgumentError} For a malformed name or value, a sysctl that is not
 * namespaced, or one whose namespace the pod shares with the host.
 * @example
 * ```ts
 * validateSysctls({ "net.ipv4.ip_forward": "1" }, { hostNetwork: false, hostIpc: false });
 * ```
 */
export function validateSysctls(
  sysctls: Readonly<Record<string, string>>,
  options: SysctlOptions,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(sysctls)) {
    if (!NAME.test(name)) {
      throw new InvalidArgumentError(
        `Invalid sysctl name ${JSON.stringify(name)} in linux.sysctls: use dot-separated ` +
          `segments of letters, digits, "-" and "_"`,
      );
    }
    if (typeof value !== "string" || value.length === 0) {
      throw new InvalidArgumentError(`Sysctl "${name}" in linux.sysctls has an empty value`);
    }
    if (BAD_VALUE.test(value) || value.length > MAX_VALUE_LENGTH) {
      throw new InvalidArgumentError(
        `Invalid value ${JSON.stringify(value)} of sysctl "${name}" in linux.sysctls: ` +
          `values must not contain "+", "=", line breaks or NUL, nor exceed ` +
          `${MAX_VALUE_LENGTH} characters`,
      );
    }
    const ns = sysctlNamespace(name);
    if (ns === undefined) {
      throw new InvalidArgumentError(
        `Sysctl "${name}" in linux.sysctls is not namespaced: only kernel.shm*, kernel.msg*, ` +
          `kernel.sem, fs.mqueue.* and net.* are allowed`,
      );
    }
    if (ns === "net" && options.hostNetwork) {
      throw new InvalidArgumentError(
        `Sysctl "${name}" in linux.sysctls would change the host: the pod uses the host ` +
          `network (namespace_options.network NODE)`,
      );
    }
    if (ns === "ipc" && options.hostIpc) {
      throw new InvalidArgumentError(
        `Sysctl "${name}" in linux.sysctls would change the host: the pod uses the host ` +
          `IPC namespace (namespace_options.ipc NODE)`,
      );
    }
    out[name] = value;
  }
  return out;
}

/**
 * Parses the node's `default_sysctls` (CRI-O's key and syntax): `name=value` entries, each a
 * namespaced sysctl (as a pod's must be) named once.
 *
 * @returns name to value, or undefined when an entry is malformed, not namespaced or repeated.
 */
export function parseDefaultSysctls(list: readonly string[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const entry of list) {
    const eq = entry.indexOf("=");
    if (eq <= 0) return undefined;
    const name = entry.slice(0, eq).trim();
    if (Object.hasOwn(out, name)) return undefined;
    try {
      Object.assign(out, validateSysctls({ [name]: entry.slice(eq + 1).trim() }, NO_HOST));
    } catch {
      return undefined;
    }
  }
  return out;
}

const NO_HOST: SysctlOptions = { hostNetwork: false, hostIpc: false };

/**
 * The sysctls a pod gets: the node's defaults of the namespaces the pod owns (a `net.*` default
 * is left out for a pod on the host network, an IPC one for a pod on the host IPC namespace:
 * never set on the node), then the pod's own, which win.
 *
 * @param defaults The parsed `default_sysctls`.
 * @param own The pod's `linux.sysctls` (validated by the caller).
 * @param options Which namespaces the pod shares with the host.
 */
export function podSysctls(
  defaults: Readonly<Record<string, string>>,
  own: Readonly<Record<string, string>>,
  options: SysctlOptions,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(defaults)) {
    const ns = sysctlNamespace(name);
    if ((ns === "net" && options.hostNetwork) || (ns === "ipc" && options.hostIpc)) continue;
    out[name] = value;
  }
  return { ...out, ...own };
}
