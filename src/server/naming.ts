/**
 * Names and IDs, in one place: `k8s_<name>_<namespace>_<uid>_<attempt>` for sandboxes,
 * `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` for containers, 64-hex-char IDs.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { InvalidArgumentError } from "../errors.ts";

/** A new random ID: 32 bytes as 64 lowercase hex characters. */
export function newId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
}

/** Metadata fields naming a pod. */
export interface PodMetadata {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
}

function requireField(value: string, field: string): void {
  if (!value) throw new InvalidArgumentError(`Missing "${field}" in the request`);
  if (/[\s/\\]/.test(value) || value.includes("\0")) {
    throw new InvalidArgumentError(`Invalid ${field} ${JSON.stringify(value)}`);
  }
}

/** The sandbox name, after checking the metadata is complete. */
export function sandboxName(meta: PodMetadata): string {
  requireField(meta.name, "config.metadata.name");
  requireField(meta.namespace, "config.metadata.namespace");
  requireField(meta.uid, "config.metadata.uid");
  return `k8s_${meta.name}_${meta.namespace}_${meta.uid}_${meta.attempt}`;
}

/** The container name, after checking the metadata is complete. */
export function containerName(
  container: { name: string; attempt: number },
  pod: PodMetadata,
): string {
  requireField(container.name, "config.metadata.name");
  return `k8s_${container.name}_${pod.name}_${pod.namespace}_${pod.uid}_${container.attempt}`;
}
