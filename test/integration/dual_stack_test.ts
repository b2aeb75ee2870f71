/**
 * Dual-stack pods against the real daemon, CNI bridge and host-local with an IPv4 and an IPv6
 * range (containerd's `pod_dualstack_test`): PodSandboxStatus reports the IPv4 address as `ip`
 * and the IPv6 one in `additional_ips`, the container has both, and StopPodSandbox gives both
 * back to IPAM. Both pod kinds (pinned namespaces, infra container). Root only. Network: bridge
 * "ocidt55", 10.234.55.0/24 and fd00:0:0:55::/64 (a unique local range, on the test's bridge).
 */
import assert from "node:assert/strict";
import { call } from "../../src/cri/proto.ts";
import { ipamReservations } from "../helpers/checks.ts";
import {
  createTestContainer,
  execBusybox,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  testPodConfig,
} from "../helpers/test_pod.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt55";
const SUBNET = "10.234.55.0/24";
const SUBNET6 = "fd00:0:0:55::/64";
const CGROUP_PARENT = "/ocid-it55";
const SLOW = { deadlineMs: 60_000 };

Deno.test({
  name: "Dual-stack pods: an IPv4 ip, an IPv6 additional ip, both in the container, both released",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const { daemon, image } = await startDaemonWithBusybox(registry.host, {
      repo: "it55/busybox",
      bridge: BRIDGE,
      subnet: SUBNET,
      ipv6Subnet: SUBNET6,
    });
    try {
      const { runtime } = daemon.clients;
      for (const pid of ["CONTAINER", "POD"] as const) {
        await t.step(`pid ${pid}`, async () => {
          const pod = await runTestPod(
            runtime,
            testPodConfig(`dual-${pid.toLowerCase()}`, {
              namespace: "it55",
              cgroupParent: CGROUP_PARENT,
              pid,
            }),
          );
          const st = (await call(runtime, "PodSandboxStatus", { pod_sandbox_id: pod.id }))
            .status!;
          const v4 = st.network!.ip;
          const more = st.network!.additional_ips.map((a) => a.ip);
          assert.match(v4, /^10\.234\.55\.\d+$/, "the IPv4 address is the primary one");
          assert.equal(more.length, 1, JSON.stringify(more));
          assert.match(more[0]!, /^fd00:0:0:55::[0-9a-f]+$/);
          assert.deepEqual(await ipamReservations(daemon.dirs.cniDataDir), [v4, more[0]!].sort());

          const id = await createTestContainer(runtime, pod, {
            name: "sleeper",
            image,
            command: ["/bin/sleep", "3600"],
          });
          await call(runtime, "StartContainer", { container_id: id });
          const addrs = await execBusybox(daemon, id, "ip", "addr", "show", "eth0");
          assert.ok(addrs.includes(`inet ${v4}/24`), addrs);
          assert.ok(addrs.includes(`inet6 ${more[0]}/64`), addrs);

          await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, SLOW);
          assert.deepEqual(await ipamReservations(daemon.dirs.cniDataDir), [], "both given back");
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, SLOW);
        });
      }
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
