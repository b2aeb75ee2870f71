/**
 * What the node's configuration gives every container, against the real daemon: by default a
 * container inherits the daemon's own resource limits (as under containerd's CRI plugin and
 * CRI-O), not a fixed `RLIMIT_NOFILE` of 1024 that no program in it could raise;
 * `default_ulimits` sets them for every container, and `default_capabilities` the capabilities
 * a container starts from. Root only. Network: bridge "ocidt51", 10.234.51.0/24.
 */
import assert from "node:assert/strict";
import { call } from "../../src/cri/proto.ts";
import { pushBusybox, sh } from "../helpers/checks.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  execBusybox,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt51";
const SUBNET = "10.234.51.0/24";
const CGROUP_PARENT = "/ocid-it51";

/** Soft and hard limit of one line of a `/proc/<pid>/limits` text, like "Max open files". */
function limit(limits: string, name: string): [string, string] {
  const line = limits.split("\n").find((l) => l.startsWith(name));
  assert.ok(line, `no "${name}" in\n${limits}`);
  const [soft, hard] = line.slice(name.length).trim().split(/\s+/);
  return [soft!, hard!];
}

/** The effective capabilities of a `/proc/<pid>/status` text. */
function capEff(status: string): bigint {
  const hex = /^CapEff:\s+([0-9a-f]+)$/m.exec(status)?.[1];
  assert.ok(hex, `no CapEff in\n${status}`);
  return BigInt(`0x${hex}`);
}

/**
 * The `/proc/1/limits` and `/proc/1/status` of a new running container of a new pod of
 * `daemon`, whose security context drops `drop`.
 */
async function containerInit(
  daemon: TestDaemon,
  image: string,
  name: string,
  drop: string[] = [],
): Promise<{ limits: string; status: string }> {
  const { runtime } = daemon.clients;
  await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
  const pod = await runTestPod(
    runtime,
    testPodConfig(name, { namespace: "it51", cgroupParent: CGROUP_PARENT }),
  );
  try {
    const id = await createTestContainer(runtime, pod, {
      name,
      image,
      command: ["/bin/sleep", "3600"],
      config: {
        linux: {
          security_context: {
            capabilities: {
              add_capabilities: [],
              drop_capabilities: drop,
              add_ambient_capabilities: [],
            },
          },
        },
      },
    });
    await call(runtime, "StartContainer", { container_id: id });
    return {
      limits: await execBusybox(daemon, id, "cat", "/proc/1/limits"),
      status: await execBusybox(daemon, id, "cat", "/proc/1/status"),
    };
  } finally {
    await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
    await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
  }
}

Deno.test({
  name:
    "Every container gets the node defaults: the daemon's limits or default_ulimits, default_capabilities",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it51/busybox");
    try {
      await t.step("by default a container has the daemon's limits, not 1024", async () => {
        const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
        try {
          // Limits no test machine has by chance; conmon and runc, spawned later, inherit them.
          await sh("prlimit", `--pid=${daemon.pid}`, "--nofile=3001:7001", "--nproc=5001:6001");
          const { limits, status } = await containerInit(daemon, image, "inherits");
          // The soft one raised to the hard one by runc (1.1.5), whose Go runtime raises its
          // own at start and hands it on: `prlimit --nofile=3001:7001 runc run` shows 7001 too.
          assert.deepEqual(limit(limits, "Max open files"), ["7001", "7001"]);
          assert.deepEqual(limit(limits, "Max processes"), ["5001", "6001"]);
          // containerd's 14 capabilities.
          assert.equal(capEff(status), 0xa80425fbn);
        } finally {
          await daemon.cleanup();
        }
      });

      await t.step(
        "default_ulimits and default_capabilities apply to every container",
        async () => {
          const daemon = await startDaemon({
            bridge: BRIDGE,
            subnet: SUBNET,
            config: `default_ulimits = ["nofile=1500:2500", "nproc=4000"]\n` +
              `default_capabilities = ["CHOWN", "kill", "CAP_NET_BIND_SERVICE"]\n`,
          });
          try {
            const { limits, status } = await containerInit(daemon, image, "configured", ["KILL"]);
            assert.deepEqual(limit(limits, "Max open files"), ["1500", "2500"]);
            assert.deepEqual(limit(limits, "Max processes"), ["4000", "4000"]);
            // CHOWN (0) and NET_BIND_SERVICE (10); KILL (5) dropped by the container's request.
            assert.equal(capEff(status), (1n << 0n) | (1n << 10n));
          } finally {
            await daemon.cleanup();
          }
        },
      );
    } finally {
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
