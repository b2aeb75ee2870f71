/**
 * GetContainerEvents: a server stream of container lifecycle events for the kubelet's Evented
 * PLEG, and the helpers the lifecycle handlers publish them with.
 *
 * Events: CONTAINER_CREATED_EVENT, CONTAINER_STARTED_EVENT, CONTAINER_STOPPED_EVENT (StopContainer,
 * a failed start, and a process that exits on its own, seen through conmon's exit file) and
 * CONTAINER_DELETED_EVENT, for containers and, as CRI-O and containerd do, for pod sandboxes
 * with the sandbox ID as `container_id`. Each event is published after the state change is
 * persisted and carries, as the CRI asks, `created_at` (when the event happened, ns),
 * `pod_sandbox_status` (the pod's status; for a removed pod, its last status) and
 * `containers_statuses` (the statuses of every container of the pod, as kubelet rebuilds the pod
 * status from them).
 *
 * A client more than `capacity` events behind (default 1024) is dropped with RESOURCE_EXHAUSTED
 * (see src/events.ts); a client that cancels is unsubscribed at once.
 *
 * @module
 */
import type * as cri from "../cri/types.ts";
import { EventBus } from "../events.ts";
import type { Logger } from "../log.ts";
import type { SandboxRecord } from "../store/sandbox.ts";
import { podContainerStatuses } from "./container_status.ts";
import type { Deps } from "./deps.ts";
import type { CallContext } from "./instrument.ts";
import type { StreamSink } from "./instrument_stream.ts";
import { sandboxStatus } from "./sandbox_status.ts";
import { nowNs } from "./time.ts";

/** The daemon's bus of CRI container events. */
export type ContainerEventBus = EventBus<cri.ContainerEventResponseInit>;

/** The lifecycle order: events kept back during a transition are released in this order. */
const LIFECYCLE_RANK: Record<cri.ContainerEventType, number> = {
  CONTAINER_CREATED_EVENT: 0,
  CONTAINER_STARTED_EVENT: 1,
  CONTAINER_STOPPED_EVENT: 2,
  CONTAINER_DELETED_EVENT: 3,
};

/** Options of {@linkcode createContainerEventBus}. */
export interface ContainerEventBusOptions {
  /** Events one client may have waiting before it is dropped. @default 1024 */
  capacity?: number;
  /** Where dropped clients are reported. */
  logger?: Logger;
}

/** Creates the bus of container events. */
export function createContainerEventBus(
  options: ContainerEventBusOptions = {},
): ContainerEventBus {
  const capacity = options.capacity ?? 1024;
  return new EventBus<cri.ContainerEventResponseInit>({
    capacity,
    onOverflow: (sub) =>
      options.logger?.warn("Dropping a container event client that fell behind", {
        subscriber: sub.id,
        capacity,
      }),
  });
}

/** What publishing an event uses. */
export type PublishEventDeps = Pick<Deps, "events" | "sandboxes" | "containers" | "images">;

/**
 * Publishes an event about container `container.id` of pod `container.sandboxId`, after its
 * state change (or its removal) is persisted.
 */
export function publishContainerEvent(
  deps: PublishEventDeps,
  type: cri.ContainerEventType,
  container: { id: string; sandboxId: string },
): void {
  deps.events.publish(container.id, () => {
    const sandbox = deps.sandboxes.find(container.sandboxId);
    return {
      container_id: container.id,
      container_event_type: type,
      created_at: nowNs(),
      pod_sandbox_status: sandbox ? sandboxStatus(sandbox) : null,
      containers_statuses: podContainerStatuses(deps, container.sandboxId),
    };
  }, LIFECYCLE_RANK[type]);
}

/**
 * Publishes an event about a pod sandbox (its ID as `container_id`). The status is the stored
 * one when the sandbox still exists, else `last` (for CONTAINER_DELETED_EVENT).
 */
export function publishSandboxEvent(
  deps: PublishEventDeps,
  type: cri.ContainerEventType,
  last: SandboxRecord,
): void {
  deps.events.publish(last.id, () => ({
    container_id: last.id,
    container_event_type: type,
    created_at: nowNs(),
    pod_sandbox_status: sandboxStatus(deps.sandboxes.find(last.id) ?? last),
    containers_statuses: podContainerStatuses(deps, last.id),
  }), LIFECYCLE_RANK[type]);
}

/** What GetContainerEvents uses. */
export type GetContainerEventsDeps = Pick<Deps, "events" | "log">;

/**
 * Answers GetContainerEvents: streams every event published from now on until the client
 * cancels or the daemon shuts down.
 *
 * @throws {OcidError} RESOURCE_EXHAUSTED when the client falls too far behind
 */
export async function getContainerEvents(
  deps: GetContainerEventsDeps,
  _req: cri.GetEventsRequest,
  sink: StreamSink<cri.ContainerEventResponseInit>,
  ctx: Pick<CallContext, "signal">,
): Promise<void> {
  const sub = deps.events.subscribe();
  const subscribers = () => deps.events.size;
  deps.log.info("Container event client joined", {
    subscriber: sub.id,
    subscribers: subscribers(),
  });
  const leave = () => sub.close();
  ctx.signal.addEventListener("abort", leave, { once: true });
  if (ctx.signal.aborted) leave();
  try {
    for await (const event of sub) {
      // Dropped for falling behind: stop waiting on a client that no longer reads.
      await sink.write(event, { signal: sub.signal });
    }
  } finally {
    ctx.signal.removeEventListener("abort", leave);
    sub.close();
    deps.log.info("Container event client left", {
      subscriber: sub.id,
      subscribers: subscribers(),
    });
  }
}
