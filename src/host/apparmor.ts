/**
 * Whether this node runs AppArmor, read once at start as runc reads it (`apparmor.IsEnabled`):
 * the securityfs dir `/sys/kernel/security/apparmor` exists and the module's `enabled` parameter
 * says `Y`. runc applies a container's `process.apparmorProfile` only then, and fails the
 * container when the profile is not loaded.
 *
 * @module
 */

/** Reads a file's text, or throws. @default Deno.readTextFileSync */
export type ReadText = (path: string) => string;

/** Whether AppArmor is enabled on this node (see the module doc). */
export function appArmorEnabled(options: {
  readText?: ReadText;
  exists?: (path: string) => boolean;
} = {}): boolean {
  const readText = options.readText ?? Deno.readTextFileSync;
  const exists = options.exists ?? ((path: string) => {
    try {
      Deno.statSync(path);
      return true;
    } catch {
      return false;
    }
  });
  if (!exists("/sys/kernel/security/apparmor")) return false;
  try {
    return readText("/sys/module/apparmor/parameters/enabled").startsWith("Y");
  } catch {
    return false;
  }
}
