/**
 * Checks `proto/api.proto` against the public CRI v1 definition (k8s.io/cri-api) and pins the
 * decoded shape that `src/cri/types.ts` promises.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import {
  criProtoPath,
  IMAGE_SERVICE_RPCS,
  loadCri,
  PROTO_LOADER_OPTIONS,
  RUNTIME_SERVICE_RPCS,
} from "../../../src/cri/proto.ts";
import { loadCriDescriptors } from "../../../src/cri/proto_descriptors.ts";
import type * as cri from "../../../src/cri/types.ts";

/** The RuntimeService RPCs of the public definition, in its order. */
const UPSTREAM_RUNTIME_RPCS = [
  "Version",
  "RunPodSandbox",
  "StopPodSandbox",
  "RemovePodSandbox",
  "PodSandboxStatus",
  "ListPodSandbox",
  "StreamPodSandboxes",
  "CreateContainer",
  "StartContainer",
  "StopContainer",
  "RemoveContainer",
  "ListContainers",
  "StreamContainers",
  "ContainerStatus",
  "UpdateContainerResources",
  "ReopenContainerLog",
  "ExecSync",
  "Exec",
  "Attach",
  "PortForward",
  "ContainerStats",
  "ListContainerStats",
  "StreamContainerStats",
  "PodSandboxStats",
  "ListPodSandboxStats",
  "StreamPodSandboxStats",
  "UpdateRuntimeConfig",
  "Status",
  "CheckpointContainer",
  "GetContainerEvents",
  "ListMetricDescriptors",
  "ListPodSandboxMetrics",
  "StreamPodSandboxMetrics",
  "RuntimeConfig",
  "UpdatePodSandboxResources",
];

/** The ImageService RPCs of the public definition, in its order. */
const UPSTREAM_IMAGE_RPCS = [
  "ListImages",
  "StreamImages",
  "ImageStatus",
  "PullImage",
  "RemoveImage",
  "ImageFsInfo",
];

/** RPCs that answer with a server stream. */
const UPSTREAM_STREAMING_RPCS = [
  "StreamPodSandboxes",
  "StreamContainers",
  "StreamContainerStats",
  "StreamPodSandboxStats",
  "GetContainerEvents",
  "StreamPodSandboxMetrics",
  "StreamImages",
];

interface FieldDescriptor {
  name: string;
  number: number;
  label: string;
  type: string;
  typeName: string;
}

/** The reflected descriptor of one field of a `runtime.v1` message. */
function field(message: string, name: string): FieldDescriptor {
  const def = loadCriDescriptors()[`runtime.v1.${message}`];
  assert.ok(def && "type" in def, `Cannot find message "${message}"`);
  const fields = (def.type as { field: FieldDescriptor[] }).field;
  const found = fields.find((f) => f.name === name);
  assert.ok(found, `Cannot find field "${name}" in "${message}"`);
  return found;
}

/** The values of a top-level `runtime.v1` enum, by name. */
function enumValues(name: string): Record<string, number> {
  const def = loadCriDescriptors()[`runtime.v1.${name}`];
  assert.ok(def && "type" in def, `Cannot find enum "${name}"`);
  const values = (def.type as { value: { name: string; number: number }[] }).value;
  return Object.fromEntries(values.map((v) => [v.name, v.number]));
}

Deno.test("criProtoPath() points at the proto file next to the sources", () => {
  assert.ok(criProtoPath().endsWith("/proto/api.proto"), criProtoPath());
  assert.ok(existsSync(criProtoPath()), `Missing "${criProtoPath()}"`);
});

Deno.test("loadCri() loads both services once and caches them", () => {
  const first = loadCri();
  assert.equal(loadCri(), first);
  assert.deepEqual(Object.keys(first.runtimeService), [...RUNTIME_SERVICE_RPCS]);
  assert.deepEqual(Object.keys(first.imageService), [...IMAGE_SERVICE_RPCS]);
  assert.deepEqual(PROTO_LOADER_OPTIONS, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
});

Deno.test("loadCri() has every RuntimeService RPC of the public definition", () => {
  const { runtimeService } = loadCri();
  assert.deepEqual(Object.keys(runtimeService), UPSTREAM_RUNTIME_RPCS);
  assert.deepEqual([...RUNTIME_SERVICE_RPCS], UPSTREAM_RUNTIME_RPCS);
  for (const name of UPSTREAM_RUNTIME_RPCS) {
    assert.equal(runtimeService[name]?.path, `/runtime.v1.RuntimeService/${name}`);
  }
});

Deno.test("loadCri() has every ImageService RPC of the public definition", () => {
  const { imageService } = loadCri();
  assert.deepEqual(Object.keys(imageService), UPSTREAM_IMAGE_RPCS);
  assert.deepEqual([...IMAGE_SERVICE_RPCS], UPSTREAM_IMAGE_RPCS);
  for (const name of UPSTREAM_IMAGE_RPCS) {
    assert.equal(imageService[name]?.path, `/runtime.v1.ImageService/${name}`);
  }
});

Deno.test("loadCri() streams exactly the server-streaming RPCs of the public definition", () => {
  const { runtimeService, imageService } = loadCri();
  const all = { ...runtimeService, ...imageService };
  const streaming = Object.entries(all).filter(([, m]) => m.responseStream).map(([n]) => n);
  assert.deepEqual(streaming.sort(), [...UPSTREAM_STREAMING_RPCS].sort());
  assert.ok(Object.values(all).every((m) => !m.requestStream), "No RPC streams its request");
  const described = loadCriDescriptors()["runtime.v1.RuntimeService"] as Record<string, unknown>;
  const events = described.GetContainerEvents as {
    requestType: { type: { name: string } };
    responseType: { type: { name: string } };
  };
  assert.equal(events.requestType.type.name, "GetEventsRequest");
  assert.equal(events.responseType.type.name, "ContainerEventResponse");
});

Deno.test("proto/api.proto field numbers match the public definition", () => {
  const expected: [string, string, number, string][] = [
    ["RunPodSandboxRequest", "config", 1, "TYPE_MESSAGE"],
    ["RunPodSandboxRequest", "runtime_handler", 2, "TYPE_STRING"],
    ["PodSandboxConfig", "metadata", 1, "TYPE_MESSAGE"],
    ["PodSandboxConfig", "port_mappings", 5, "TYPE_MESSAGE"],
    ["PodSandboxConfig", "linux", 8, "TYPE_MESSAGE"],
    ["PodSandboxConfig", "windows", 9, "TYPE_MESSAGE"],
    ["LinuxPodSandboxConfig", "resources", 5, "TYPE_MESSAGE"],
    ["LinuxSandboxSecurityContext", "run_as_group", 8, "TYPE_MESSAGE"],
    ["LinuxSandboxSecurityContext", "supplemental_groups", 5, "TYPE_INT64"],
    ["LinuxSandboxSecurityContext", "supplemental_groups_policy", 11, "TYPE_ENUM"],
    ["LinuxSandboxSecurityContext", "seccomp_profile_path", 7, "TYPE_STRING"],
    ["NamespaceOption", "userns_options", 5, "TYPE_MESSAGE"],
    ["Namespace", "options", 2, "TYPE_MESSAGE"],
    ["PodSandboxStatus", "created_at", 4, "TYPE_INT64"],
    ["PodSandboxStatus", "runtime_handler", 9, "TYPE_STRING"],
    ["PodSandboxStatusResponse", "containers_statuses", 3, "TYPE_MESSAGE"],
    ["PodSandboxStatusResponse", "timestamp", 4, "TYPE_INT64"],
    ["ContainerConfig", "linux", 15, "TYPE_MESSAGE"],
    ["ContainerConfig", "CDI_devices", 17, "TYPE_MESSAGE"],
    ["ContainerConfig", "stop_signal", 18, "TYPE_ENUM"],
    ["LinuxContainerSecurityContext", "run_as_group", 12, "TYPE_MESSAGE"],
    ["LinuxContainerSecurityContext", "supplemental_groups_policy", 17, "TYPE_ENUM"],
    ["LinuxContainerSecurityContext", "apparmor_profile", 9, "TYPE_STRING"],
    ["LinuxContainerResources", "memory_swap_limit_in_bytes", 10, "TYPE_INT64"],
    ["HugepageLimit", "limit", 2, "TYPE_UINT64"],
    ["Mount", "uidMappings", 6, "TYPE_MESSAGE"],
    ["Mount", "gidMappings", 7, "TYPE_MESSAGE"],
    ["Mount", "image", 9, "TYPE_MESSAGE"],
    ["Mount", "image_sub_path", 10, "TYPE_STRING"],
    ["ImageSpec", "user_specified_image", 18, "TYPE_STRING"],
    ["ImageSpec", "runtime_handler", 19, "TYPE_STRING"],
    ["ImageSpec", "image_ref", 20, "TYPE_STRING"],
    ["ContainerStatus", "exit_code", 7, "TYPE_INT32"],
    ["ContainerStatus", "reason", 10, "TYPE_STRING"],
    ["ContainerStatus", "message", 11, "TYPE_STRING"],
    ["ContainerStatus", "image_id", 17, "TYPE_STRING"],
    ["ContainerStatus", "user", 18, "TYPE_MESSAGE"],
    ["ContainerStatus", "stop_signal", 19, "TYPE_ENUM"],
    ["Container", "image_id", 10, "TYPE_STRING"],
    ["ExecSyncResponse", "stdout", 1, "TYPE_BYTES"],
    ["ExecRequest", "audit_request_id", 7, "TYPE_STRING"],
    ["AttachRequest", "audit_request_id", 6, "TYPE_STRING"],
    ["PortForwardRequest", "port", 2, "TYPE_INT32"],
    ["Image", "size", 4, "TYPE_UINT64"],
    ["Image", "pinned", 8, "TYPE_BOOL"],
    ["AuthConfig", "registry_token", 6, "TYPE_STRING"],
    ["StatusResponse", "features", 4, "TYPE_MESSAGE"],
    ["RuntimeFeatures", "user_namespaces_host_network", 2, "TYPE_BOOL"],
    ["ContainerStats", "io", 6, "TYPE_MESSAGE"],
    ["MemoryUsage", "psi", 8, "TYPE_MESSAGE"],
    ["PsiStats", "Some", 2, "TYPE_MESSAGE"],
    ["PsiData", "Avg300", 4, "TYPE_DOUBLE"],
    ["WindowsCpuGroupAffinity", "cpu_mask", 1, "TYPE_UINT64"],
    ["ContainerEventResponse", "containers_statuses", 5, "TYPE_MESSAGE"],
    ["StreamPodSandboxMetricsResponse", "pod_sandbox_metrics", 1, "TYPE_MESSAGE"],
    ["UpdatePodSandboxResourcesRequest", "resources", 3, "TYPE_MESSAGE"],
  ];
  for (const [message, name, number, type] of expected) {
    const f = field(message, name);
    assert.equal(f.number, number, `${message}.${name} number`);
    assert.equal(f.type, type, `${message}.${name} type`);
  }
  assert.equal(field("PodSandboxConfig", "port_mappings").label, "LABEL_REPEATED");
  assert.equal(field("ContainerConfig", "linux").typeName, "LinuxContainerConfig");
});

Deno.test("proto/api.proto enum values match the public definition", () => {
  assert.deepEqual(enumValues("PodSandboxState"), { SANDBOX_READY: 0, SANDBOX_NOTREADY: 1 });
  assert.deepEqual(enumValues("ContainerState"), {
    CONTAINER_CREATED: 0,
    CONTAINER_RUNNING: 1,
    CONTAINER_EXITED: 2,
    CONTAINER_UNKNOWN: 3,
  });
  assert.deepEqual(enumValues("NamespaceMode"), { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 });
  assert.deepEqual(enumValues("CgroupDriver"), { SYSTEMD: 0, CGROUPFS: 1 });
  assert.deepEqual(enumValues("SupplementalGroupsPolicy"), { Merge: 0, Strict: 1 });
  const signal = enumValues("Signal");
  assert.equal(Object.keys(signal).length, 66);
  assert.equal(signal.SIGTERM, 23);
  assert.equal(signal.SIGKILL, 13);
  assert.equal(signal.SIGRTMAX, 65);
  const profile = loadCriDescriptors()["runtime.v1.SecurityProfile"];
  assert.ok(profile && "type" in profile);
  assert.deepEqual(
    JSON.parse(JSON.stringify(profile.type)).enumType[0].value
      .map((v: { name: string; number: number }) => [v.name, v.number]),
    [
      ["RuntimeDefault", 0],
      ["Unconfined", 1],
      ["Localhost", 2],
    ],
  );
});

Deno.test("RunPodSandboxRequest round-trips to the documented decoded shape", () => {
  const method = loadCri().runtimeService.RunPodSandbox;
  assert.ok(method);
  const request: cri.RunPodSandboxRequestInit = {
    config: {
      metadata: { name: "web", uid: "u-1", namespace: "default", attempt: 2 },
      hostname: "web",
      port_mappings: [{ protocol: "UDP", container_port: 53, host_port: 5353 }, {}],
      labels: { app: "web" },
      linux: {
        cgroup_parent: "/kubepods",
        security_context: {
          namespace_options: { pid: "CONTAINER" },
          run_as_user: { value: 1000 },
          supplemental_groups: [1, "2"],
        },
        resources: { cpu_quota: 50_000, memory_limit_in_bytes: "9007199254740993" },
      },
    },
    runtime_handler: "runc",
  };
  const decoded = method.requestDeserialize(method.requestSerialize(request));
  const expected: cri.RunPodSandboxRequest = {
    config: {
      metadata: { name: "web", uid: "u-1", namespace: "default", attempt: 2 },
      hostname: "web",
      log_directory: "",
      dns_config: null,
      port_mappings: [
        { protocol: "UDP", container_port: 53, host_port: 5353, host_ip: "" },
        { protocol: "TCP", container_port: 0, host_port: 0, host_ip: "" },
      ],
      labels: { app: "web" },
      annotations: {},
      linux: {
        cgroup_parent: "/kubepods",
        security_context: {
          namespace_options: {
            network: "POD",
            pid: "CONTAINER",
            ipc: "POD",
            target_id: "",
            userns_options: null,
          },
          selinux_options: null,
          run_as_user: { value: "1000" },
          run_as_group: null,
          readonly_rootfs: false,
          supplemental_groups: ["1", "2"],
          supplemental_groups_policy: "Merge",
          privileged: false,
          seccomp: null,
          apparmor: null,
          seccomp_profile_path: "",
        },
        sysctls: {},
        overhead: null,
        resources: {
          cpu_period: "0",
          cpu_quota: "50000",
          cpu_shares: "0",
          memory_limit_in_bytes: "9007199254740993",
          oom_score_adj: "0",
          cpuset_cpus: "",
          cpuset_mems: "",
          hugepage_limits: [],
          unified: {},
          memory_swap_limit_in_bytes: "0",
        },
      },
      windows: null,
    },
    runtime_handler: "runc",
  };
  // deepStrictEqual also checks that every object is a plain object and no key is extra.
  assert.deepStrictEqual(decoded, expected);
});

Deno.test("an empty request decodes with defaults and null sub-messages", () => {
  const method = loadCri().runtimeService.CreateContainer;
  assert.ok(method);
  const decoded = method.requestDeserialize(Uint8Array.of() as never) as cri.CreateContainerRequest;
  assert.deepStrictEqual(decoded, { pod_sandbox_id: "", config: null, sandbox_config: null });
});

Deno.test("ExecSyncResponse decodes bytes as Uint8Array", () => {
  const method = loadCri().runtimeService.ExecSync;
  assert.ok(method);
  const init: cri.ExecSyncResponseInit = { stdout: new TextEncoder().encode("hi\n"), exit_code: 3 };
  const decoded = method.responseDeserialize(
    method.responseSerialize(init),
  ) as cri.ExecSyncResponse;
  assert.ok(decoded.stdout instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(decoded.stdout), "hi\n");
  assert.equal(decoded.stderr.length, 0);
  assert.equal(decoded.exit_code, 3);
});

Deno.test("an enum number the proto does not name decodes as a number", () => {
  // Why handlers must treat enum fields as possibly unknown: protobufjs keeps the raw number.
  const method = loadCri().runtimeService.ContainerStatus;
  assert.ok(method);
  const bytes = method.responseSerialize({ status: { state: 7 as never } });
  const decoded = method.responseDeserialize(bytes) as cri.ContainerStatusResponse;
  assert.equal(decoded.status?.state, 7);
});
