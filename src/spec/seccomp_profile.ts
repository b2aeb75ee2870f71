/**
 * Choosing a container's seccomp filter from the CRI request: the `seccomp`
 * `SecurityProfile` field, or else the deprecated `seccomp_profile_path` string
 * (`runtime/default`, `docker/default`, `unconfined`, `localhost/<absolute path>`).
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import type { SecurityProfile } from "../cri/types.ts";
import { runtimeDefaultSeccomp } from "./seccomp.ts";
import type { Seccomp, SeccompSyscall } from "./types.ts";

/** Reads a Localhost profile; the default reads the file synchronously. */
export type ProfileLoader = (path: string) => string;

/** Options of {@linkcode resolveSeccomp}. */
export interface ResolveSeccompOptions {
  /** The request field holding the security context, for error messages. */
  field: string;
  /** The process's capabilities: they unlock syscalls in the RuntimeDefault profile. */
  capabilities: readonly string[];
  /** Privileged containers run without seccomp. */
  privileged: boolean;
  /** Reads Localhost profiles. @default Deno.readTextFileSync */
  loadProfile?: ProfileLoader;
  /**
   * The node's RuntimeDefault profile (`seccomp_profile`): its path and text, read at start,
   * parsed for each container's capabilities as a Localhost profile is. @default the built-in
   */
  runtimeDefault?: { path: string; text: string };
}

/** The fields of a security context that choose the profile. */
export interface SeccompInput {
  seccomp: SecurityProfile | null;
  seccomp_profile_path: string;
}

/**
 * Returns `linux.seccomp`, or undefined for no filter (Unconfined, unset, privileged).
 *
 * @param input The security context (null when the request has none: unconfined, as the
 * CRI specifies for an empty profile).
 * @param options Capabilities, privilege, loader.
 * @throws {InvalidArgumentError} For an unknown profile type or path form, a relative
 * Localhost path, or a Localhost file that cannot be read or is not a seccomp profile.
 */
export function resolveSeccomp(
  input: SeccompInput | null,
  options: ResolveSeccompOptions,
): Seccomp | undefined {
  if (options.privileged || input === null) return undefined;
  const { field } = options;
  if (input.seccomp !== null) {
    const type: string = input.seccomp.profile_type;
    switch (type) {
      case "RuntimeDefault":
        return runtimeDefault(options);
      case "Unconfined":
        return undefined;
      case "Localhost":
        return loadLocalhost(
          input.seccomp.localhost_ref,
          `${field}.seccomp.localhost_ref`,
          options,
        );
      default:
        throw new InvalidArgumentError(
          `Unknown seccomp profile type ${
            JSON.stringify(type)
          } in ${field}.seccomp.profile_type: ` +
            `expected RuntimeDefault, Unconfined or Localhost`,
        );
    }
  }
  const path = input.seccomp_profile_path;
  if (path === "" || path === "unconfined") return undefined;
  if (path === "runtime/default" || path === "docker/default") return runtimeDefault(options);
  if (path.startsWith("localhost/")) {
    return loadLocalhost(path.slice("localhost/".length), `${field}.seccomp_profile_path`, options);
  }
  throw new InvalidArgumentError(
    `Unknown seccomp profile ${JSON.stringify(path)} in ${field}.seccomp_profile_path: expected ` +
      `"runtime/default", "unconfined" or "localhost/<absolute path>"`,
  );
}

/** The node's RuntimeDefault profile when it has one, else the built-in. */
function runtimeDefault(options: ResolveSeccompOptions): Seccomp {
  const node = options.runtimeDefault;
  if (!node) return runtimeDefaultSeccomp({ capabilities: options.capabilities });
  return parseSeccompProfile(node.text, { path: node.path, capabilities: options.capabilities });
}

function loadLocalhost(path: string, field: string, options: ResolveSeccompOptions): Seccomp {
  if (!path.startsWith("/") || path.split("/").includes("..")) {
    throw new InvalidArgumentError(
      `Seccomp profile path ${JSON.stringify(path)} in ${field} must be absolute, without ".."`,
    );
  }
  const load = options.loadProfile ?? ((p: string) => Deno.readTextFileSync(p));
  let text: string;
  try {
    text = load(path);
  } catch (error) {
    throw new InvalidArgumentError(
      `Cannot read seccomp profile "${path}" (${field}): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return parseSeccompProfile(text, { path, capabilities: options.capabilities });
}

/**
 * Parses a seccomp profile file: the OCI `linux.seccomp` form, or Docker's form (with
 * `archMap` and rules conditioned on capabilities through `includes`/`excludes`).
 *
 * @param text The file content.
 * @param options The file path (for messages) and the container's capabilities.
 * @returns The OCI form.
 * @throws {InvalidArgumentError} When the text is not JSON or lacks a valid `defaultAction`.
 */
export function parseSeccompProfile(
  text: string,
  options: { path: string; capabilities: readonly string[] },
): Seccomp {
  const { path } = options;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(
      `Cannot parse seccomp profile "${path}": ${(error as Error).message}`,
      { cause: error },
    );
  }
  const bad = (why: string) =>
    new InvalidArgumentError(`Invalid seccomp profile "${path}": ${why}`);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw bad("expected a JSON object");
  }
  const p = raw as Record<string, unknown>;
  if (typeof p.defaultAction !== "string" || !p.defaultAction.startsWith("SCMP_ACT_")) {
    throw bad(`"defaultAction" must be an SCMP_ACT_* name`);
  }
  const out: Seccomp = { defaultAction: p.defaultAction };
  if (typeof p.defaultErrnoRet === "number") out.defaultErrnoRet = p.defaultErrnoRet;
  const arches = new Set<string>();
  if (Array.isArray(p.architectures)) { for (const a of p.architectures) arches.add(String(a)); }
  if (Array.isArray(p.archMap)) {
    for (const m of p.archMap as { architecture?: string; subArchitectures?: string[] }[]) {
      if (m.architecture) arches.add(m.architecture);
      for (const s of m.subArchitectures ?? []) arches.add(s);
    }
  }
  if (arches.size > 0) out.architectures = [...arches];
  if (Array.isArray(p.flags)) out.flags = p.flags.map(String);
  if (p.syscalls !== undefined && !Array.isArray(p.syscalls)) {
    throw bad(`"syscalls" must be a list`);
  }
  const caps = new Set(options.capabilities);
  const syscalls: SeccompSyscall[] = [];
  for (const [i, r] of ((p.syscalls ?? []) as Record<string, unknown>[]).entries()) {
    const names = Array.isArray(r.names)
      ? r.names.map(String)
      : typeof r.name === "string"
      ? [r.name]
      : [];
    if (names.length === 0 || typeof r.action !== "string") {
      throw bad(`syscalls[${i}] needs "names" and "action"`);
    }
    const includes = (r.includes ?? {}) as { caps?: string[] };
    const excludes = (r.excludes ?? {}) as { caps?: string[] };
    if (includes.caps && !includes.caps.every((c) => caps.has(c))) continue;
    if (excludes.caps && excludes.caps.some((c) => caps.has(c))) continue;
    const rule: SeccompSyscall = { names, action: r.action };
    if (typeof r.errnoRet === "number") rule.errnoRet = r.errnoRet;
    if (Array.isArray(r.args) && r.args.length > 0) {
      rule.args = r.args as NonNullable<SeccompSyscall["args"]>;
    }
    syscalls.push(rule);
  }
  if (syscalls.length > 0) out.syscalls = syscalls;
  return out;
}

/**
 * Reads the node's RuntimeDefault profile (`seccomp_profile`) at start and checks that it
 * parses, so that a bad file stops the daemon instead of failing every container.
 *
 * @param path The configured file.
 * @returns Its path and text, for {@linkcode ResolveSeccompOptions.runtimeDefault}.
 * @throws {Error} Naming the key and the file when it cannot be read or is not a profile.
 */
export async function loadNodeSeccompProfile(
  path: string,
): Promise<{ path: string; text: string }> {
  try {
    const text = await Deno.readTextFile(path);
    parseSeccompProfile(text, { path, capabilities: [] });
    return { path, text };
  } catch (error) {
    throw new Error(`Cannot use seccomp_profile "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
}
