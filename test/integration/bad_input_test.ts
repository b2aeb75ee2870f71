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
