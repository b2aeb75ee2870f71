/**
 * Small helpers to edit `spec.mounts`.
 *
 * @module
 */
import type { Mount, Spec } from "./types.ts";

/** A bind mount of `source` at `destination`; read-only unless `readonly` is false. */
export function bindMount(
  source: string,
  destination: string,
  options: { readonly: boolean; extra?: readonly string[] },
): Mount {
  return {
    destination,
    type: "bind",
    source,
    options: ["rbind", ...(options.extra ?? []), options.readonly ? "ro" : "rw"],
  };
}

/** Puts `mount` into `spec.mounts`, replacing any mount at the same destination. */
export function setMount(spec: Spec, mount: Mount): void {
  const mounts = (spec.mounts ??= []);
  const i = mounts.findIndex((m) => m.destination === mount.destination);
  if (i >= 0) mounts[i] = mount;
  else mounts.push(mount);
}

/** Removes the mount at `destination`, if any. */
export function removeMount(spec: Spec, destination: string): void {
  if (spec.mounts) spec.mounts = spec.mounts.filter((m) => m.destination !== destination);
}
