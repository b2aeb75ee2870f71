/**
 * Annotation keys ocid writes into `config.json`. The `io.kubernetes.cri.*` keys are the
 * ones containerd defines (`pkg/cri/annotations`), so tools that read them (kata, gVisor,
 * NRI plugins, monitoring agents) understand ocid's containers too; `io.ocid.*` keys are ours.
 *
 * @module
 */

/** `sandbox` or `container`. */
export const CONTAINER_TYPE = "io.kubernetes.cri.container-type";
/** Value of {@linkcode CONTAINER_TYPE} for a pod's infra container. */
export const CONTAINER_TYPE_SANDBOX = "sandbox";
/** Value of {@linkcode CONTAINER_TYPE} for a workload container. */
export const CONTAINER_TYPE_CONTAINER = "container";
/** The sandbox ID (on the sandbox and on each of its containers). */
export const SANDBOX_ID = "io.kubernetes.cri.sandbox-id";
/** The pod name. */
export const SANDBOX_NAME = "io.kubernetes.cri.sandbox-name";
/** The pod namespace. */
export const SANDBOX_NAMESPACE = "io.kubernetes.cri.sandbox-namespace";
/** The pod UID. */
export const SANDBOX_UID = "io.kubernetes.cri.sandbox-uid";
/** The pod log directory. */
export const SANDBOX_LOG_DIRECTORY = "io.kubernetes.cri.sandbox-log-directory";
/** The container name (containers only). */
export const CONTAINER_NAME = "io.kubernetes.cri.container-name";
/** The image the container was created from, as requested (containers only). */
export const IMAGE_NAME = "io.kubernetes.cri.image-name";

/** The CRI labels of the sandbox or container, as JSON. */
export const OCID_LABELS = "io.ocid.labels";
/** The CRI annotations of the sandbox or container, as JSON. */
export const OCID_ANNOTATIONS = "io.ocid.annotations";
/** The CRI metadata (name, uid, namespace, attempt) as JSON. */
export const OCID_METADATA = "io.ocid.metadata";
