/**
 * Bad input never brings the daemon down and changes nothing: every unary RPC of both services
 * is called with an empty request and with hostile values (path traversal, huge strings, unknown
 * enum numbers, negative sizes); each call gets a gRPC status (any), the daemon keeps serving,
 * and no sandbox, container, image, mount or netns appears. Root only. Network: bridge
 * "ocidt16", 10.234.16.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  call,
  criMethod,
  type CriRpcs,
  IMAGE_SERVICE_RPCS,
  RUNTIME_SERVICE_RPCS,
  type UnaryRpcName,
} from "../../src/cri/proto.ts";
import { isDaemonDirMount, mountsUnder, startDaemon } from "../helpers/daemon.ts";
import { alive, grpcCode, listDir } from "../helpers/checks.ts";
import { startRegistry } from "../helpers/registry.ts";
import { appArmorEnabled } from "../../src/host/apparmor.ts";
import {
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  testPodConfig,
} from "../helpers/test_pod.ts";

const TRAVERSAL = "../../../../etc/passwd";
const HUGE = "x".repeat(1 << 20);

/** Hostile values for the fields most RPCs read; unknown fields are ignored by protobuf. */
const HOSTILE: Record<string, unknown>[] = [
  {},
  { pod_sandbox_id: TRAVERSAL, container_id: TRAVERSAL, image: { image: TRAVERSAL } },
  { pod_sandbox_id: HUGE, container_id: HUGE, image: { image: HUGE } },
  { pod_sandbox_id: "", container_id: "", timeout: -5, cmd: [], filter: { id: "" } },
  {
    config: {
      metadata: { name: "../x", namespace: "a/b", uid: "\0", attempt: 4294967295 },
      log_directory: "/proc/self",
      linux: { cgroup_parent: "../../..", sysctls: { "kernel.core_pattern": "|/bin/sh" } },
      port_mappings: [{ protocol: 99, container_port: -1, host_port: 70000 }],
    },
    pod_sandbox_id: "a",
  },
  {
    container_id: "0",
    cmd: ["/bin/sh", "-c", "yes"],
    timeout: 1,
    linux: { cpu_quota: -1, memory_limit_in_bytes: -1 },
    path: TRAVERSAL,
  },
];

Deno.test({
  name: "every unary RPC survives hostile input without changing the node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const daemon = await startDaemon({ bridge: "ocidt16", subnet: "10.234.16.0/24" });
    try {
      const rpcs = [...RUNTIME_SERVICE_RPCS, ...IMAGE_SERVICE_RPCS].filter((name) => {
        const m = criMethod(name as keyof CriRpcs);
        return !m.requestStream && !m.responseStream;
      }) as UnaryRpcName[];
      assert.ok(rpcs.length > 30, `unary RPCs found: ${rpcs.length}`);
      const codes = new Map<string, Set<string>>();
      for (const rpc of rpcs) {
        const client = IMAGE_SERVICE_RPCS.includes(rpc as never)
          ? daemon.clients.image
          : daemon.clients.runtime;
        for (const request of HOSTILE) {
          // deno-lint-ignore no-explicit-any
          const code = await grpcCode(call(client, rpc, request as any, { deadlineMs: 30_000 }));
          assert.notEqual(code, grpc.status.UNAVAILABLE, `${rpc} made the daemon unavailable`);
          assert.notEqual(code, grpc.status.DEADLINE_EXCEEDED, `${rpc} hung`);
          // CANCELLED here meant a status message too large for the client's header limit.
          assert.notEqual(code, grpc.status.CANCELLED, `${rpc} sent no usable status`);
          let set = codes.get(rpc);
          if (!set) codes.set(rpc, set = new Set());
          set.add(grpc.status[code]!);
        }
        assert.ok(alive(daemon.pid), `the daemon died on ${rpc}`);
      }
      if (Deno.env.get("OCID_TEST_VERBOSE")) console.log(codes);
      // Requests that name things must be refused as bad input or missing, not as internal.
      for (
        const rpc of ["RunPodSandbox", "CreateContainer", "PodSandboxStatus", "ContainerStatus"]
      ) {
        assert.ok(!codes.get(rpc)?.has("INTERNAL"), `${rpc}: ${[...codes.get(rpc)!].join(",")}`);
      }
      const v = await call(daemon.clients.runtime, "Version", {});
      assert.equal(v.runtime_name, "ocid");
      assert.deepEqual(await listDir(join(daemon.dirs.root, "sandboxes")), []);
      assert.deepEqual(await listDir(join(daemon.dirs.runroot, "netns")), []);
      assert.deepEqual(
        (await mountsUnder(daemon.dirs.base)).filter((p) => !isDaemonDirMount(p)),
        [],
      );
      assert.equal((await call(daemon.clients.runtime, "ListPodSandbox", {})).items.length, 0);
      assert.equal((await call(daemon.clients.runtime, "ListContainers", {})).containers.length, 0);
      assert.equal((await call(daemon.clients.image, "ListImages", {})).images.length, 0);
      assert.doesNotMatch(daemon.output(), /Unhandled rejection|Uncaught exception/);
    } finally {
      await daemon.cleanup();
    }
  },
});

Deno.test({
  name:
    "unknown enum values, impossible port mappings and CPU values are INVALID_ARGUMENT naming the field; an AppArmor profile the node cannot apply is refused",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using registry = await startRegistry();
    const { daemon, image } = await startDaemonWithBusybox(registry.host, {
      repo: "it16/busybox",
      bridge: "ocidt16",
      subnet: "10.234.16.0/24",
    });
    const cgroupParent = "/ocid-it16";
    const { runtime } = daemon.clients;
    const refused = async (rpc: UnaryRpcName, request: object, details: RegExp) => {
      // deno-lint-ignore no-explicit-any
      const err = await call(runtime, rpc, request as any).then(() => undefined, (e) => e);
      assert.ok(err, `${rpc} ${JSON.stringify(request)} was accepted`);
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${rpc}: ${err.details}`);
      assert.match(err.details, details);
    };
    try {
      const podConfig = (name: string, over: Record<string, unknown> = {}) => ({
        ...testPodConfig(name, { namespace: "it16", cgroupParent }),
        ...over,
      });
      const pods: [Record<string, unknown>, RegExp][] = [
        [
          { port_mappings: [{ protocol: 7, container_port: 80, host_port: 8080 }] },
          /config\.port_mappings\[0\]\.protocol holds 7, which runtime\.v1\.Protocol/,
        ],
        [
          {
            linux: {
              cgroup_parent: cgroupParent,
              security_context: { namespace_options: { network: 9 } },
            },
          },
          /config\.linux\.security_context\.namespace_options\.network holds 9/,
        ],
        [
          { port_mappings: [{ protocol: "TCP", container_port: 0, host_port: 8080 }] },
          /config\.port_mappings\[0\]\.container_port 0/,
        ],
        [
          { port_mappings: [{ protocol: "TCP", container_port: 80, host_port: 70000 }] },
          /config\.port_mappings\[0\]\.host_port 70000/,
        ],
        [{ log_directory: "relative/logs" }, /config\.log_directory "relative\/logs"/],
        [{ log_directory: "/tmp/a\0b" }, /config\.log_directory holds a NUL byte/],
      ];
      for (const [i, [over, details]] of pods.entries()) {
        await refused("RunPodSandbox", { config: podConfig(`bad${i}`, over) }, details);
      }
      // A user namespace this node does not make (Status says user_namespaces false): refused,
      // not run with the containers in the node's user namespace.
      const userns = {
        mode: "POD",
        uids: [{ host_id: 100000, container_id: 0, length: 65536 }],
        gids: [{ host_id: 100000, container_id: 0, length: 65536 }],
      };
      for (const pid of ["POD", "CONTAINER"]) {
        const err = await call(runtime, "RunPodSandbox", {
          config: podConfig(`userns-${pid}`, {
            linux: {
              cgroup_parent: cgroupParent,
              security_context: { namespace_options: { pid, userns_options: userns } },
            },
          }),
        }).then(() => undefined, (e) => e);
        assert.equal(err?.code, grpc.status.FAILED_PRECONDITION, String(err?.details));
        assert.match(err.details, /userns_options\.mode POD: this node does not run pods in user/);
      }
      // Nothing was made for them, not even a network namespace.
      assert.deepEqual(await listDir(join(daemon.dirs.root, "sandboxes")), []);
      assert.deepEqual(await listDir(join(daemon.dirs.runroot, "netns")), []);

      const pod = await runTestPod(runtime, podConfig("good"));
      const container = (over: Record<string, unknown>) => ({
        pod_sandbox_id: pod.id,
        sandbox_config: pod.config,
        config: {
          metadata: { name: "c", attempt: 0 },
          image: { image },
          command: ["sleep", "60"],
          log_path: "c.log",
          ...over,
        },
      });
      await refused(
        "CreateContainer",
        container({ stop_signal: 99 }),
        /config\.stop_signal holds 99, which runtime\.v1\.Signal does not name/,
      );
      await refused(
        "CreateContainer",
        container({ mounts: [{ container_path: "/x", host_path: "/tmp", propagation: 5 }] }),
        /config\.mounts\[0\]\.propagation holds 5/,
      );
      // NUL bytes where runc or the file system would meet them (INTERNAL before).
      await refused(
        "CreateContainer",
        container({ working_dir: "/a\0b" }),
        /config\.working_dir holds a NUL byte/,
      );
      await refused(
        "CreateContainer",
        container({ mounts: [{ container_path: "/x", host_path: "/tmp\0x" }] }),
        /config\.mounts\[0\]\.host_path holds a NUL byte/,
      );
      // A CPU value the kernel refuses (runc failed on it: INTERNAL).
      await refused(
        "CreateContainer",
        container({ linux: { resources: { cpu_shares: 1e12 } } }),
        /linux\.resources\.cpu_shares must be 0 \(not set\) or 2 to 262144/,
      );
      // A cpuset naming a CPU this node does not have (runc's write failed: INTERNAL).
      const cpus = Deno.readTextFileSync("/sys/devices/system/cpu/online").trim();
      assert.ok(!cpus.includes("4095"), `this node has CPU 4095 online (${cpus})`);
      const offlineCpu = /cpuset_cpus "4095" names CPU 4095, which this node does not have online/;
      await refused(
        "CreateContainer",
        container({ linux: { resources: { cpuset_cpus: "4095" } } }),
        offlineCpu,
      );
      // A Localhost AppArmor profile: refused on a node without AppArmor (it would run
      // unconfined); on a node with it, runc is handed the profile and refuses an unloaded one.
      const appArmor = container({
        linux: {
          security_context: {
            apparmor: { profile_type: "Localhost", localhost_ref: "ocid-it16-not-loaded" },
          },
        },
      });
      const aaErr = await call(runtime, "CreateContainer", appArmor).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(aaErr, "a Localhost AppArmor profile was accepted");
      if (await appArmorEnabled()) {
        assert.match(aaErr.details, /ocid-it16-not-loaded/);
      } else {
        assert.equal(aaErr.code, grpc.status.FAILED_PRECONDITION, aaErr.details);
        assert.match(aaErr.details, /AppArmor is not enabled on this node/);
      }
      const usernsErr = await call(
        runtime,
        "CreateContainer",
        container({
          linux: {
            security_context: { namespace_options: { pid: "CONTAINER", userns_options: userns } },
          },
        }),
      ).then(() => undefined, (e) => e);
      assert.equal(usernsErr?.code, grpc.status.FAILED_PRECONDITION, String(usernsErr?.details));
      assert.match(usernsErr.details, /userns_options\.mode POD/);
      await refused("ListContainers", { filter: { state: { state: 12 } } }, /filter\.state\.state/);
      assert.equal((await call(runtime, "ListContainers", {})).containers.length, 0);
      // The same requests with named values are served.
      const ok = await call(
        runtime,
        "CreateContainer",
        container({
          stop_signal: "SIGINT",
          linux: { security_context: { apparmor: { profile_type: "RuntimeDefault" } } },
        }),
      );
      await refused(
        "UpdateContainerResources",
        { container_id: ok.container_id, linux: { cpuset_cpus: "4095" } },
        offlineCpu,
      );
      await refused(
        "ExecSync",
        { container_id: ok.container_id, cmd: ["echo", "a\0b"], timeout: 5 },
        /cmd\[1\] holds a NUL byte/,
      );
      const st = await call(runtime, "ContainerStatus", { container_id: ok.container_id });
      assert.equal(st.status?.stop_signal, "SIGINT");
      await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id });
      assert.doesNotMatch(daemon.output(), /Unhandled rejection|Uncaught exception/);
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(cgroupParent);
    }
  },
});
