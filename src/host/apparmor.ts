/**
 * Whether this node runs AppArmor, read once at start as runc reads it (`apparmor.IsEnabled`):
 * the securityfs dir `/sys/kernel/security/apparmor` exists and the module's `enabled` parameter
 * says `Y`. runc applies a container's `process.apparmorProfile` only then, and fails the
 * container when the profile is not loaded.
 *
 * @module
 */
import { exists as entryExists } from "../exists.ts";

/** Whether AppArmor is enabled on this node (see the module doc). */
export async function appArmorEnabled(options: {
  /** @default Deno.readTextFile */
  readText?: (path: string) => Promise<string>;
  /** @default exists (src/exists.ts) */
  exists?: (path: string) => Promise<boolean>;
} = {}): Promise<boolean> {
  const readText = options.readText ?? Deno.readTextFile;
  const exists = options.exists ?? entryExists;
  if (!(await exists("/sys/kernel/security/apparmor"))) return false;
  return await readText("/sys/module/apparmor/parameters/enabled").then(
    (text) => text.startsWith("Y"),
    () => false,
  );
}
