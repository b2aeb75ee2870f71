/**
 * ContainerStatus: the container's state, times, exit, image, mounts and log path, all from the
 * store; no process is spawned. With `verbose`, `info.info` carries a JSON document of ocid's
 * own view (pids, bundle, sandbox, and the OCI spec read from the bundle).
 *
 * @module
 */
import { join } from "node:path";
import type * as cri from "../cri/types.ts";
import { InvalidArgumentError } from "../errors.ts";
import { criSignal } from "../signals.ts";
import type { ContainerRecord } from "../store/container.ts";
import type { Deps } from "./deps.ts";

/** What ContainerStatus uses. */
export type ContainerStatusDeps = Pick<Deps, "containers" | "images">;

/** Answers ContainerStatus. */
export async function containerStatus(
  deps: ContainerStatusDeps,
  req: cri.ContainerStatusRequest,
): Promise<cri.ContainerStatusResponseInit> {
  if (!req.container_id) throw new InvalidArgumentError("Missing container_id");
  const container = deps.containers.get(req.container_id);
  const response: cri.ContainerStatusResponseInit = {
    status: toCriStatus(deps, container),
    info: {},
  };
  if (req.verbose) {
    const spec = await Deno.readTextFile(join(container.metadata.bundle, "config.json"))
      .then((t) => JSON.parse(t) as unknown, () => null);
    response.info = {
      info: JSON.stringify({
        sandboxID: container.metadata.sandboxId,
        pid: container.status.pid,
        conmonPid: container.status.conmonPid,
        bundle: container.metadata.bundle,
        imageId: container.metadata.imageId,
        // `crictl inspect | jq .info.privileged`, as under CRI-O.
        privileged: container.metadata.config.linux?.security_context?.privileged ?? false,
        runtimeSpec: spec,
      }),
    };
  }
  return response;
}

/** The image reference the CRI reports: a repo digest when the image has one, else its ID. */
export function imageRef(deps: Pick<Deps, "images">, imageId: string): string {
  return deps.images.status(imageId)?.repoDigests[0] ?? imageId;
}

/**
 * The image name the CRI reports in `image.image`: the reference the request used, unless it
 * named the image by its ID (kubelet sends the ID that PullImage returned), then the image's first
 * repo tag, as containerd and CRI-O do, so that kubelet's pod status shows a name, not a digest.
 *
 * @param meta The container's requested reference and resolved image ID.
 * @returns A repo tag, or the reference as requested when it is a name or the image has no tag.
 */
export function imageName(
  deps: Pick<Deps, "images">,
  meta: { imageRef: string; imageId: string },
): string {
  if (!namesImageId(meta.imageRef, meta.imageId)) return meta.imageRef;
  return deps.images.status(meta.imageId)?.repoTags[0] ?? meta.imageRef;
}

/** Whether `ref` is `id` ("sha256:<hex>") or a prefix of it, with or without "sha256:". */
function namesImageId(ref: string, id: string): boolean {
  if (ref === id) return true;
  const hex = id.startsWith("sha256:") ? id.slice("sha256:".length) : id;
  const m = /^sha256:([0-9a-f]{1,64})$/.exec(ref) ?? /^([0-9a-f]{12,64})$/.exec(ref);
  return m !== null && hex.startsWith(m[1]!);
}

/** The CRI ContainerStatus of a record. */
export function toCriStatus(
  deps: Pick<Deps, "images">,
  container: ContainerRecord,
): cri.ContainerStatusInit {
  const { metadata: meta, status } = container;
  const config = meta.config;
  const resources = status.resources ?? config.linux?.resources ?? null;
  const user = meta.user;
  return {
    id: container.id,
    metadata: config.metadata,
    state: status.state,
    created_at: meta.createdAt,
    started_at: status.startedAt,
    finished_at: status.finishedAt,
    exit_code: status.exitCode,
    image: {
      image: imageName(deps, meta),
      user_specified_image: config.image?.user_specified_image ?? "",
    },
    image_ref: imageRef(deps, meta.imageId),
    image_id: meta.imageId,
    reason: status.reason,
    message: status.message,
    labels: config.labels ?? {},
    annotations: config.annotations ?? {},
    mounts: config.mounts ?? [],
    log_path: meta.logPath,
    resources: resources ? { linux: resources } : null,
    ...(user
      ? {
        user: {
          linux: {
            uid: user.uid,
            gid: user.gid,
            supplemental_groups: user.additionalGids,
          },
        },
      }
      : {}),
    // The signal StopContainer sends (the request's, else the image's, else SIGTERM), as
    // containerd reports it; the kubelet shows it as the container's stopSignal.
    stop_signal: criSignal(meta.stopSignal || "SIGTERM"),
  };
}

/** The statuses of every container of pod `sandboxId`. */
export function podContainerStatuses(
  deps: Pick<Deps, "containers" | "images">,
  sandboxId: string,
): cri.ContainerStatusInit[] {
  return deps.containers.list()
    .filter((c) => c.metadata.sandboxId === sandboxId)
    .map((c) => toCriStatus(deps, c));
}
