/**
 * Reloading the configuration without a restart (SIGHUP, `systemctl reload ocid`), as CRI-O
 * reloads some of its options: the new configuration is loaded the way the daemon loaded it
 * (files, then flags), and the keys of {@linkcode RELOADABLE} that changed take effect for what
 * comes next (the next container gets the new defaults, the next pull reads the new
 * registries.conf). Keys that changed but need a restart (a socket, a root, a runtime) are
 * named in the log and left as they were. A new `seccomp_profile` that does not parse changes
 * nothing at all.
 *
 * @module
 */
import type { Config } from "./config/types.ts";
import { FIELDS, type FieldSpec, getField, setField } from "./config/_schema.ts";

/** The keys a reload applies. */
export const RELOADABLE: ReadonlySet<string> = new Set([
  "log_level",
  "default_env",
  "default_capabilities",
  "default_ulimits",
  "default_sysctls",
  "device_ownership_from_security_context",
  "seccomp_profile",
  "hooks_dir",
  "absent_mount_sources_to_reject",
  "read_only",
  "image.registries_conf",
  "image.pinned_images",
  "image.signature_policy",
  "image.signature_policy_dir",
  "image.image_volumes",
  "image.global_auth_file",
  "image.max_concurrent_downloads",
]);

/** What differs: the fields a reload applies, and the keys that need a restart. */
export interface ConfigChanges {
  reload: FieldSpec[];
  restart: string[];
}

/** What changed from `old` to `next`, by key. */
export function configChanges(old: Config, next: Config): ConfigChanges {
  const changes: ConfigChanges = { reload: [], restart: [] };
  for (const spec of FIELDS) {
    if (JSON.stringify(getField(old, spec)) === JSON.stringify(getField(next, spec))) continue;
    if (RELOADABLE.has(spec.key)) changes.reload.push(spec);
    else changes.restart.push(spec.key);
  }
  // [runtimes.<handler>] tables are not keys of FIELDS.
  if (JSON.stringify(old.runtimes) !== JSON.stringify(next.runtimes)) {
    changes.restart.push("runtimes");
  }
  return changes;
}

/** The parts a reload hands the new values to, each given the new configuration. */
export interface ReloadTargets {
  /** Checks and prepares what must not fail half-way (reads the new seccomp profile). */
  prepare(next: Config, changed: ReadonlySet<string>): Promise<void>;
  /** Applies the prepared changes (cannot fail). */
  commit(next: Config, changed: ReadonlySet<string>): void;
}

/**
 * Applies the reloadable keys that changed to `live` (the daemon's configuration object, read
 * by every request), after `targets.prepare` succeeded; nothing changes when it throws.
 *
 * @returns The keys applied and those that need a restart.
 */
export async function reloadConfig(
  live: Config,
  next: Config,
  targets: ReloadTargets,
): Promise<{ applied: string[]; needRestart: string[] }> {
  const { reload, restart } = configChanges(live, next);
  const changed = new Set(reload.map((f) => f.key));
  await targets.prepare(next, changed);
  for (const spec of reload) {
    setField(live as unknown as Record<string, unknown>, spec, getField(next, spec));
  }
  targets.commit(next, changed);
  return { applied: [...changed], needRestart: restart };
}
