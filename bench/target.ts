/**
 * What the scenario drives: one pod lifecycle vocabulary, implemented over CRI (ocid,
 * containerd, any endpoint) and directly over runc + CNI (the floor). The scenario times
 * each call; a target only performs it.
 *
 * @module
 */

/** Image calls; absent for the floor, which has no image store. */
export interface TargetImages {
  pull(ref: string): Promise<void>;
  /** Removes the image; must not fail when it is absent. */
  remove(ref: string): Promise<void>;
}

/** One system under benchmark. */
export interface Target {
  /** Short name used in tables and JSON: "ocid", "containerd", "floor", or the endpoint. */
  readonly name: string;
  /** The variant it runs, recorded with its results (the floor's pod model); absent for none. */
  readonly model?: string;
  /** The daemon's pid, or undefined when there is none (floor, a foreign endpoint). */
  readonly daemonPid: number | undefined;
  /** Pids of the per-pod processes the runtime keeps (conmon, shims); [] for none. */
  monitors(): number[];
  readonly images: TargetImages | undefined;
  /** Creates and starts a pod sandbox (pause + network); returns its id. */
  runPodSandbox(name: string): Promise<string>;
  /** Creates the busybox `sleep` container in a pod; returns its id. */
  createContainer(podId: string, name: string): Promise<string>;
  startContainer(id: string): Promise<void>;
  containerStatus(id: string): Promise<void>;
  /** Lists all containers; returns how many it saw. */
  listContainers(): Promise<number>;
  /** Runs `cmd` in the container and waits for it. */
  execSync(id: string, cmd: string[]): Promise<void>;
  /** Stops the container right away (timeout 0). */
  stopContainer(id: string): Promise<void>;
  stopPodSandbox(id: string): Promise<void>;
  /** Removes the pod and every container in it. */
  removePodSandbox(id: string): Promise<void>;
  /** Stops and removes every pod this target still has (cleanup between phases). */
  removeAllPods(): Promise<void>;
  /** Tears the target down (stops its daemon, removes its dirs). */
  close(): Promise<void>;
}
