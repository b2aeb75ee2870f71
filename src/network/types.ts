/**
 * The pod network seam the CRI handlers use: set up and tear down a pod's network in its
 * network namespace, and report whether networking is ready.
 *
 * @module
 */

/** A CRI port mapping (`PortMapping` of `PodSandboxConfig`). */
export interface PortMapping {
  protocol: "TCP" | "UDP" | "SCTP";
  containerPort: number;
  /** Mappings with a host port of 0 or less are not forwarded. */
  hostPort: number;
  /** "" for all host addresses. */
  hostIp: string;
}

/** What {@linkcode NetworkPlugin.setUp} needs. */
export interface SetUpRequest {
  /** The pod sandbox ID (`CNI_CONTAINERID`). */
  id: string;
  /** Path of the pod's network namespace (`CNI_NETNS`). */
  netnsPath: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  portMappings: PortMapping[];
  /** Interface created in the pod. @default "eth0" */
  ifName?: string;
}

/** What {@linkcode NetworkPlugin.tearDown} needs; the same pod identity as on set-up. */
export interface TearDownRequest {
  id: string;
  /** The pod's netns path; may no longer exist. */
  netnsPath: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  /**
   * The pod's port mappings (from its stored config); used only when no cached result exists.
   * Undefined when not known (a sweep of a pod's traces): `portmap` then runs on DEL.
   */
  portMappings?: PortMapping[];
  /** @default "eth0" */
  ifName?: string;
}

/** One IP address of a pod. */
export interface PodIp {
  /** The address without prefix length, e.g. "10.88.0.5". */
  address: string;
  family: 4 | 6;
  gateway?: string;
  /** The interface name inside the pod, when the result names it. */
  interface?: string;
}

/** The outcome of a successful set-up. */
export interface PodNetwork {
  /** IPs of the pod, the main network's first (IPv4 before IPv6 as the plugin ordered them). */
  ips: PodIp[];
  /** The raw CNI result of the main network. */
  result: unknown;
}

/** Readiness of the network plugin, as CRI `Status` reports the `NetworkReady` condition. */
export interface NetworkStatus {
  ready: boolean;
  /** "NetworkPluginNotReady" when not ready. */
  reason?: string;
  message?: string;
}

/** Sets up and tears down pod networks. */
export interface NetworkPlugin {
  /** Whether a valid network config and its plugins are present. */
  status(): Promise<NetworkStatus>;
  /** Attaches the pod to the network; on failure nothing stays allocated. */
  setUp(req: SetUpRequest): Promise<PodNetwork>;
  /** Detaches the pod; succeeds when things are already gone. */
  tearDown(req: TearDownRequest): Promise<void>;
}
