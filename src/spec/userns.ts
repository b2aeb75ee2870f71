/**
 * User namespaces: ocid does not run pods in one. Joining a pod's user namespace needs the
 * image's files seen through idmapped mounts (runc 1.2+, which this node's runc 1.1 lacks) or
 * a chowned copy of every layer, and neither is built; Status says `user_namespaces: false`
 * for every runtime handler, so the kubelet never asks (`hostUsers: false` pods are refused
 * before they reach the node). A request that asks anyway, from crictl or another client, is
 * refused up front. Before this check such a pod failed in runc (the pause rootfs cannot be
 * mounted through the mapping: "permission denied", an INTERNAL error), and a container's own
 * `userns_options` were ignored: it would have run in the node's user namespace.
 *
 * @module
 */
import type { UserNamespace } from "../cri/types.ts";
import { FailedPreconditionError, InvalidArgumentError } from "../errors.ts";

/**
 * Accepts only the node's user namespace (`userns_options` absent or mode NODE).
 *
 * @param userns The request's `userns_options`.
 * @param field Its path in the request, for the error.
 * @throws {FailedPreconditionError} For mode POD.
 * @throws {InvalidArgumentError} For any other mode but NODE.
 */
export function requireNodeUserNamespace(
  userns: Readonly<UserNamespace> | null | undefined,
  field: string,
): void {
  if (!userns || userns.mode === "NODE") return;
  if (userns.mode === "POD") {
    throw new FailedPreconditionError(
      `${field}.mode POD: this node does not run pods in user namespaces ` +
        `(Status reports user_namespaces false); use NODE`,
    );
  }
  throw new InvalidArgumentError(`Unsupported ${field}.mode ${userns.mode}: use NODE`);
}
