/**
 * CRI requests shaped the way kubelet 1.29 (cgroupfs driver, no feature gates) makes them for a
 * static pod, so tests speak to ocid as kubelet does. Read from kubelet's
 * `pkg/kubelet/kuberuntime`:
 * - `kuberuntime_sandbox.go` generatePodSandboxConfig: metadata with the attempt, labels
 *   (the pod's + `io.kubernetes.pod.{name,namespace,uid}`), annotations (the pod's, with
 *   `kubernetes.io/config.*` for static pods), DNS config, hostname, log directory
 *   `<logs>/<ns>_<name>_<uid>`, port mappings of every container port, linux config with the
 *   pod's cgroup parent (`/kubepods/besteffort/pod<uid>`), `privileged`, seccomp
 *   RuntimeDefault, namespace options and the sandbox resources (applySandboxResources).
 * - `kuberuntime_container.go` generateContainerConfig: metadata (name, restart count as the
 *   attempt), image by its ref, command and args, labels (`io.kubernetes.container.name` + the
 *   pod's three), annotations (`io.kubernetes.container.{hash,restartCount,
 *   terminationMessagePath,terminationMessagePolicy,ports}`,
 *   `io.kubernetes.pod.terminationGracePeriod`), mounts (volumes, `/etc/hosts` from the pod
 *   dir's `etc-hosts`, `/dev/termination-log` from `containers/<name>/<random>`), log path
 *   `<name>/<attempt>.log`, envs.
 * - `kuberuntime_container_linux.go` generateLinuxContainerResources: cpu shares (2 for best
 *   effort), period 100000, quota 0 without a limit, oom_score_adj 1000 for best effort,
 *   memory limit, a hugepage limit of 0 for every pool in /sys/kernel/mm/hugepages (runc's
 *   HugePageSizes), and on cgroup v1 with `memory.memsw.limit_in_bytes` a swap limit equal to
 *   the memory limit (ConfigureNoSwap).
 *
 * @module
 */
import type * as cri from "../../src/cri/types.ts";

/** kubelet's label keys (pkg/kubelet/types/labels.go). */
export const POD_NAME = "io.kubernetes.pod.name";
export const POD_NAMESPACE = "io.kubernetes.pod.namespace";
export const POD_UID = "io.kubernetes.pod.uid";
export const CONTAINER_NAME = "io.kubernetes.container.name";
/** kubelet's container annotation keys (kuberuntime/labels.go). */
export const CONTAINER_HASH = "io.kubernetes.container.hash";
export const CONTAINER_RESTART_COUNT = "io.kubernetes.container.restartCount";
export const TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath";

/** The page sizes of this machine's hugepage pools, named as runc's HugePageSizes does. */
export async function hostHugePageSizes(): Promise<string[]> {
  const sizes: string[] = [];
  try {
    for await (const e of Deno.readDir("/sys/kernel/mm/hugepages")) {
      const m = /^hugepages-(\d+)kB$/.exec(e.name);
      if (!m) continue;
      let n = Number(m[1]);
      let unit = "KB";
      for (const next of ["MB", "GB"]) {
        if (n % 1024 !== 0) break;
        n /= 1024;
        unit = next;
      }
      sizes.push(`${n}${unit}`);
    }
  } catch { /* no pools */ }
  return sizes.sort();
}

/** Whether cgroup v1's memory controller takes a swap limit (kubelet's swapControllerAvailable). */
export async function hostHasMemsw(): Promise<boolean> {
  return await Deno.stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").then(
    () => true,
    () => false,
  );
}

/** A static pod as the tests replay it. */
export interface KubeletPod {
  name: string;
  namespace: string;
  uid: string;
  /** `/kubepods/besteffort/pod<uid>` under the test's own root (`/kubepods-<test>`). */
  cgroupParent: string;
  /** kubelet's log dir of the pod, `<logs>/<ns>_<name>_<uid>`. */
  logDirectory: string;
  /** The pod dir kubelet keeps (`/var/lib/kubelet/pods/<uid>`), for etc-hosts and termination logs. */
  podDir: string;
}

/** The PodSandboxConfig kubelet sends for `pod` (attempt 0, best effort, one port). */
export function kubeletPodSandboxConfig(pod: KubeletPod, attempt = 0): cri.PodSandboxConfigInit {
  return {
    metadata: { name: pod.name, namespace: pod.namespace, uid: pod.uid, attempt },
    hostname: pod.name,
    log_directory: pod.logDirectory,
    dns_config: {
      servers: ["10.96.0.10"],
      searches: [`${pod.namespace}.svc.cluster.local`, "svc.cluster.local", "cluster.local"],
      options: ["ndots:5"],
    },
    port_mappings: [{ protocol: "TCP", container_port: 8080, host_port: 0, host_ip: "" }],
    labels: {
      component: pod.name,
      [POD_NAME]: pod.name,
      [POD_NAMESPACE]: pod.namespace,
      [POD_UID]: pod.uid,
    },
    annotations: {
      "kubernetes.io/config.hash": pod.uid,
      "kubernetes.io/config.seen": "2026-12-02T06:00:00.000000000Z",
      "kubernetes.io/config.source": "file",
    },
    linux: {
      cgroup_parent: pod.cgroupParent,
      sysctls: {},
      security_context: {
        privileged: false,
        seccomp: { profile_type: "RuntimeDefault" },
        namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" },
      },
      resources: {
        cpu_period: "100000",
        cpu_quota: "0",
        cpu_shares: "2",
        memory_limit_in_bytes: "0",
      },
    },
  };
}

/** Options of {@linkcode kubeletContainerConfig}. */
export interface KubeletContainerOptions {
  name: string;
  /** The image ref kubelet got from PullImage / ImageStatus. */
  imageRef: string;
  /** What the pod spec names (`user_specified_image`). */
  image: string;
  command: string[];
  /** The restart count (0 first). @default 0 */
  attempt?: number;
  /** Hugepage pool sizes of the host ({@linkcode hostHugePageSizes}). */
  hugePageSizes: string[];
  /** Whether kubelet would set a swap limit ({@linkcode hostHasMemsw}). */
  memsw: boolean;
  /** The memory limit in bytes; 0 for none. @default 0 */
  memoryLimit?: number;
  /** Host path of the termination-log file (kubelet creates it before CreateContainer). */
  terminationLog: string;
  /** Host path of the pod's etc-hosts file. */
  etcHosts: string;
}

/** kubelet 1.29's LinuxContainerResources for a best-effort container on this host. */
export function kubeletResources(
  options: Pick<KubeletContainerOptions, "hugePageSizes" | "memsw" | "memoryLimit">,
): cri.LinuxContainerResourcesInit {
  const memory = options.memoryLimit ?? 0;
  return {
    cpu_period: "100000",
    cpu_quota: "0",
    cpu_shares: "2",
    memory_limit_in_bytes: String(memory),
    oom_score_adj: "1000",
    cpuset_cpus: "",
    cpuset_mems: "",
    hugepage_limits: options.hugePageSizes.map((page_size) => ({ page_size, limit: "0" })),
    unified: {},
    memory_swap_limit_in_bytes: options.memsw ? String(memory) : "0",
  };
}

/** The ContainerConfig kubelet sends for one container of `pod`. */
export function kubeletContainerConfig(
  pod: KubeletPod,
  options: KubeletContainerOptions,
): cri.ContainerConfigInit {
  const attempt = options.attempt ?? 0;
  return {
    metadata: { name: options.name, attempt },
    image: { image: options.imageRef, user_specified_image: options.image },
    command: options.command,
    args: [],
    working_dir: "",
    envs: [{ key: "POD_NAME", value: pod.name }, { key: "MODE", value: "kubelet" }],
    mounts: [
      {
        container_path: "/etc/hosts",
        host_path: options.etcHosts,
        readonly: false,
        selinux_relabel: false,
        propagation: "PROPAGATION_PRIVATE",
      },
      {
        container_path: "/dev/termination-log",
        host_path: options.terminationLog,
        readonly: false,
        selinux_relabel: false,
        propagation: "PROPAGATION_PRIVATE",
      },
    ],
    labels: {
      [CONTAINER_NAME]: options.name,
      [POD_NAME]: pod.name,
      [POD_NAMESPACE]: pod.namespace,
      [POD_UID]: pod.uid,
    },
    annotations: {
      [CONTAINER_HASH]: "7d3a1c2e",
      [CONTAINER_RESTART_COUNT]: String(attempt),
      [TERMINATION_MESSAGE_PATH]: "/dev/termination-log",
      "io.kubernetes.container.terminationMessagePolicy": "File",
      "io.kubernetes.pod.terminationGracePeriod": "30",
      "io.kubernetes.container.ports": '[{"containerPort":8080,"protocol":"TCP"}]',
    },
    log_path: `${options.name}/${attempt}.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: {
      resources: kubeletResources(options),
      security_context: {
        namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" },
        seccomp: { profile_type: "Unconfined" },
        masked_paths: [
          "/proc/asound",
          "/proc/acpi",
          "/proc/kcore",
          "/proc/keys",
          "/proc/latency_stats",
          "/proc/timer_list",
          "/proc/timer_stats",
          "/proc/sched_debug",
          "/proc/scsi",
          "/sys/firmware",
        ],
        readonly_paths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
      },
    },
  };
}

/**
 * Makes what kubelet makes on disk before RunPodSandbox and CreateContainer: the pod's log
 * directory, its `etc-hosts`, and a termination-log file per container attempt.
 *
 * @param base A temporary directory of the test.
 * @param name The pod's name; namespace `kube-system`.
 * @param cgroupRoot The test's own cgroup root, like `/kubepods-ocidt36`.
 */
export async function makeKubeletPod(
  base: string,
  name: string,
  cgroupRoot: string,
): Promise<KubeletPod> {
  const uid = crypto.randomUUID();
  const namespace = "kube-system";
  const pod: KubeletPod = {
    name,
    namespace,
    uid,
    cgroupParent: `${cgroupRoot}/besteffort/pod${uid}`,
    logDirectory: `${base}/log/pods/${namespace}_${name}_${uid}`,
    podDir: `${base}/kubelet/pods/${uid}`,
  };
  await Deno.mkdir(pod.logDirectory, { recursive: true, mode: 0o755 });
  await Deno.mkdir(pod.podDir, { recursive: true });
  await Deno.writeTextFile(
    `${pod.podDir}/etc-hosts`,
    `# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n10.0.0.1\t${name}\n`,
  );
  return pod;
}

/** Makes a container's termination-log file as kubelet does; returns its host path. */
export async function makeTerminationLog(pod: KubeletPod, container: string): Promise<string> {
  const dir = `${pod.podDir}/containers/${container}`;
  await Deno.mkdir(dir, { recursive: true });
  const path = `${dir}/${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(path, "");
  return path;
}

/** Removes a test's cgroup root and everything under it, deepest first, in every hierarchy. */
export async function removeCgroupTree(root: string): Promise<void> {
  const hierarchies: string[] = [];
  for await (const e of Deno.readDir("/sys/fs/cgroup")) hierarchies.push(e.name);
  for (const h of hierarchies) await removeTree(`/sys/fs/cgroup/${h}${root}`);
}

async function removeTree(dir: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory) await removeTree(`${dir}/${e.name}`);
  await Deno.remove(dir).catch(() => {});
}
