/**
 * The lock of one container, and how a call on its whole pod takes it.
 *
 * Calls on one container (StartContainer, StopContainer, RemoveContainer) hold the container's
 * lock; calls on a pod (CreateContainer, StopPodSandbox, RemovePodSandbox) hold the pod's. A pod
 * call that stops or removes the pod's containers takes each one's lock too, after the pod's
 * (nothing takes them the other way round), so that it does not kill a container a
 * StartContainer is starting, nor remove one a RemoveContainer is removing. The kubelet sends
 * those from different loops (its pod workers, its container garbage collection), so they meet.
 *
 * @module
 */
import type { Deps } from "./deps.ts";

/** The lock key of container `id`. */
export function containerLock(id: string): string {
  return `container:${id}`;
}

/**
 * Runs `fn` holding container `id`'s lock; does not run it when the container went while the
 * lock was awaited. A StopContainer waiting on the container's stop signal holds the lock: its
 * SIGKILL is sent now (a removal, or the stop of the whole pod, ends the container at once).
 *
 * @returns What `fn` returns, or undefined when the container is gone.
 */
export async function withContainerLock<T>(
  deps: Pick<Deps, "locks" | "containers" | "stops">,
  id: string,
  fn: () => Promise<T>,
): Promise<T | undefined> {
  deps.stops.get(id)?.join(Date.now());
  using _ = await deps.locks.lock(containerLock(id));
  if (!deps.containers.has(id)) return undefined;
  return await fn();
}
