/**
 * Image references, parsed and normalised the way kubelet and crictl expect:
 * `busybox` -> `docker.io/library/busybox:latest`, `host:5000/a/b@sha256:...`, `localhost/x`.
 *
 * @module
 */
import { InvalidArgumentError } from "../errors.ts";
import { isPort } from "../port.ts";

/** The registry that unqualified names belong to. */
export const DEFAULT_REGISTRY = "docker.io";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?$|^\[[0-9a-fA-F:.]+\](?::[0-9]+)?$/;

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Registry host with optional port, e.g. `docker.io`, `127.0.0.1:5000`. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  repository: string;
  /** Tag; `latest` when the reference had neither tag nor digest. */
  tag?: string;
  /** `sha256:<hex>` when the reference pins a digest. */
  digest?: string;
}

/**
 * Parses an image reference and fills in the defaults.
 *
 * @param ref What the user wrote: `busybox`, `quay.io/a/b:1`, `x@sha256:...`.
 * @returns The normalised reference.
 * @throws {InvalidArgumentError} When the reference is malformed.
 * @example
 * ```ts
 * parseReference("busybox"); // { registry: "docker.io", repository: "library/busybox", tag: "latest" }
 * ```
 */
export function parseReference(ref: string): ImageReference {
  const shown = ref.length > 300 ? `${ref.slice(0, 300)}\u2026` : ref;
  const bad = (why: string) =>
    new InvalidArgumentError(`Invalid image reference "${shown}": ${why}`);
  if (ref === "" || ref.trim() !== ref) throw bad("empty or surrounded by spaces");
  // The distribution spec's limit on a name (registry and repository) is 255 characters; a
  // tag adds at most 129 and a digest 71.
  if (ref.length > 255 + 129 + 71) throw bad(`${ref.length} characters is too long`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`digest "${digest}" is not sha256:<64 hex digits>`);
  }
  let registry = DEFAULT_REGISTRY;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first)
    ) {
      registry = first;
      rest = rest.slice(slash + 1);
      if (!HOST.test(registry)) throw bad(`registry host "${registry}" is malformed`);
      const port = registry.match(/:(\d+)$/)?.[1];
      if (port !== undefined && !isPort(Number(port))) {
        throw bad(`registry port ${port} is not 1 to 65535`);
      }
    }
  }
  if (registry === "index.docker.io" || registry === "registry-1.docker.io") {
    registry = DEFAULT_REGISTRY;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`tag "${tag}" is malformed`);
  }
  let repository = rest;
  if (repository === "") throw bad("the repository name is empty");
  for (const part of repository.split("/")) {
    if (!COMPONENT.test(part)) {
      throw bad(`path component "${part}" must be lowercase letters, digits and separators`);
    }
  }
  if (registry === DEFAULT_REGISTRY && !repository.includes("/")) {
    repository = `library/${repository}`;
  }
  if (registry.length + 1 + repository.length > 255) {
    throw bad("the name is longer than 255 characters");
  }
  if (tag === undefined && digest === undefined) tag = "latest";
  const out: ImageReference = { registry, repository };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** `registry/repository`, e.g. `docker.io/library/busybox`. */
export function repoName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The full normalised form: `docker.io/library/busybox:latest` or `...@sha256:...`. */
export function formatReference(ref: ImageReference): string {
  let s = repoName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** What to ask the registry for: the digest when pinned, else the tag. */
export function manifestRef(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

/** Whether `s` is a full `sha256:<hex>` digest. */
export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}
