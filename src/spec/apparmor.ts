/**
 * A container's AppArmor profile (`process.apparmorProfile`) from its CRI security context: the
 * `apparmor` profile, or the deprecated `apparmor_profile` string kubelet sent before 1.30
 * (`runtime/default`, `unconfined`, `localhost/<name>`).
 *
 * - A Localhost profile is applied by name (a `localhost/` prefix dropped, as containerd does);
 *   the profile must be loaded on the node, or runc fails the container. On a node without
 *   AppArmor it is FAILED_PRECONDITION: the container would otherwise run without the
 *   confinement it asked for (containerd refuses it too).
 * - Unconfined, and a privileged container, get no profile.
 * - RuntimeDefault (and no profile at all) gets none either: ocid does not generate and load a
 *   default profile as containerd (`cri-containerd.apparmor.d`) and CRI-O (`crio-default`) do.
 *   The daemon says so at start on a node with AppArmor.
 *
 * @module
 */
import type { LinuxContainerSecurityContext } from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";

/** Options of {@linkcode resolveAppArmor}. */
export interface ResolveAppArmorOptions {
  /** Where the security context sits in the request, for error messages. */
  field: string;
  privileged: boolean;
  /** Whether the node runs AppArmor (`src/host/apparmor.ts`). */
  enabled: boolean;
}

/**
 * The profile to apply, or undefined for none (see the module doc).
 *
 * @throws {InvalidArgumentError} For an unknown profile type or string, or a Localhost profile
 *   without a name.
 * @throws {FailedPreconditionError} For a Localhost profile on a node without AppArmor.
 */
export function resolveAppArmor(
  sc: Pick<LinuxContainerSecurityContext, "apparmor" | "apparmor_profile"> | null,
  options: ResolveAppArmorOptions,
): string | undefined {
  if (sc === null) return undefined;
  const { field } = options;
  let localhost: { name: string; from: string } | undefined;
  if (sc.apparmor !== null) {
    const type: string = sc.apparmor.profile_type;
    const from = `${field}.apparmor.localhost_ref`;
    if (type === "Localhost") localhost = { name: sc.apparmor.localhost_ref, from };
    else if (type !== "RuntimeDefault" && type !== "Unconfined") {
      throw new InvalidArgumentError(
        `Unknown AppArmor profile type ${
          JSON.stringify(type)
        } in ${field}.apparmor.profile_type: ` +
          `expected RuntimeDefault, Unconfined or Localhost`,
      );
    }
  } else {
    const profile = sc.apparmor_profile;
    if (profile.startsWith("localhost/")) {
      localhost = { name: profile, from: `${field}.apparmor_profile` };
    } else if (profile !== "" && profile !== "runtime/default" && profile !== "unconfined") {
      throw new InvalidArgumentError(
        `Unknown AppArmor profile ${JSON.stringify(profile)} in ${field}.apparmor_profile: ` +
          `expected "runtime/default", "unconfined" or "localhost/<name>"`,
      );
    }
  }
  if (!localhost || options.privileged) return undefined;
  const name = localhost.name.startsWith("localhost/")
    ? localhost.name.slice("localhost/".length)
    : localhost.name;
  if (name === "") {
    throw new InvalidArgumentError(`Missing the AppArmor profile's name in ${localhost.from}`);
  }
  if (!options.enabled) {
    throw new FailedPreconditionError(
      `Cannot apply AppArmor profile ${JSON.stringify(name)} (${localhost.from}): ` +
        `AppArmor is not enabled on this node`,
    );
  }
  return name;
}
