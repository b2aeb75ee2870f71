/**
 * RunPodSandbox without child processes for namespaces: the pod's network namespace (and, for
 * pods without an infra container, its IPC and UTS namespaces with the hostname and sysctls)
 * made on the daemon's main thread, `lo` brought up in-process (`[cni] use_internal_loopback`,
 * the default) or by the loopback plugin (`use_internal_loopback = false`, `OCID_NETNS=exec`).
 * In each case, in both holder modes, the pod's `lo` is UP with 127.0.0.1, the hostname and the
 * sysctls are the pod's and not the node's, and the daemon's "Ran program" records show which
 * programs RunPodSandbox and StopPodSandbox ran: no `portmap` for this pod without host ports
 * (`[cni] skip_idle_portmap`, the default), unless `skip_idle_portmap = false`.
 * Root only. Network: bridge "ocidt46", 10.234.46.0/24.
 *
 * @module
 */
import assert from "node:assert/strict";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { pushBusybox } from "../helpers/checks.ts";
import {
  type HolderMode,
  programsDuring,
  startDaemon,
  testEachHolderMode,
} from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  execBusybox as exec,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";
import { assertNodeClean, removeAllPods } from "./_node_state.ts";

const BRIDGE = "ocidt46";
const SUBNET = "10.234.46.0/24";
const CGROUP_PARENT = "/ocid-it46";

const readProc = (path: string) => Deno.readTextFileSync(path).trim();

/** How a daemon brings `lo` up, and what it should run for it. */
interface Variant {
  name: string;
  config?: string;
  env?: Record<string, string>;
  /** Programs RunPodSandbox runs besides the network's bridge; each `X ADD` has its `X DEL`. */
  runs: string[];
  /** More programs it runs for pods without an infra container. */
  pinnedRuns?: string[];
}

const VARIANTS: Variant[] = [
  { name: "internal loopback (default)", runs: [] },
  {
    name: "use_internal_loopback = false",
    config: "[cni]\nuse_internal_loopback = false\n",
    runs: ["loopback ADD"],
  },
  // One unshare for the netns, one more for the pinned IPC/UTS namespaces (no infra).
  {
    name: "OCID_NETNS=exec",
    env: { OCID_NETNS: "exec" },
    runs: ["loopback ADD", "unshare"],
    pinnedRuns: ["unshare"],
  },
  {
    name: "skip_idle_portmap = false",
    config: "[cni]\nskip_idle_portmap = false\n",
    runs: ["portmap ADD"],
  },
];

function podConfig(name: string, nodeShm: string): cri.PodSandboxConfigInit {
  const base = testPodConfig(name, { namespace: "it46", cgroupParent: CGROUP_PARENT });
  return {
    ...base,
    linux: {
      ...base.linux,
      sysctls: {
        "kernel.shm_rmid_forced": nodeShm === "1" ? "0" : "1",
        "net.ipv4.ip_unprivileged_port_start": "7",
      },
    },
  };
}

testEachHolderMode({
  name: "A pod's lo is UP with 127.0.0.1, and RunPodSandbox runs only the programs it needs",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t, mode: HolderMode) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it46/busybox");
    const nodeShm = readProc("/proc/sys/kernel/shm_rmid_forced");
    const nodePort = readProc("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    const nodeHostname = Deno.hostname();
    try {
      for (const variant of VARIANTS) {
        await t.step(variant.name, async () => {
          const d = await startDaemon({
            bridge: BRIDGE,
            subnet: SUBNET,
            dropInfraCtr: mode.dropInfraCtr,
            ...(variant.config ? { config: variant.config } : {}),
            ...(variant.env ? { env: variant.env } : {}),
          });
          try {
            await call(d.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
            const name = `lo-${mode.infra ? "infra" : "pinned"}`;
            let pod = { id: "", config: {} as cri.PodSandboxConfigInit };
            const run = await programsDuring(d, async () => {
              pod = await runTestPod(d.clients.runtime, podConfig(name, nodeShm));
            });
            const info = JSON.parse(
              (await call(d.clients.runtime, "PodSandboxStatus", {
                pod_sandbox_id: pod.id,
                verbose: true,
              })).info.info!,
            ) as { holder: string };
            assert.equal(info.holder, mode.infra ? "infra" : "pinned");
            // The network's own plugins, plus what the variant needs; infra pods also run
            // conmon and runc, which make no namespace.
            const expected = [
              "bridge ADD",
              ...variant.runs,
              ...(mode.infra ? [] : variant.pinnedRuns ?? []),
            ].sort();
            const seen = run.filter((p) => !/^(runc|conmon) /.test(p));
            assert.deepEqual(seen.sort(), expected, `RunPodSandbox ran ${JSON.stringify(run)}`);
            if (variant.runs.length === 0) {
              assert.match(d.output(), /debug Pinned namespaces in-process what=net ok=true ms=/);
            }

            const c = await createTestContainer(d.clients.runtime, pod, {
              name: "c",
              image,
              command: ["/bin/sleep", "3600"],
            });
            await call(d.clients.runtime, "StartContainer", { container_id: c });
            const link = await exec(d, c, "ip", "-o", "link", "show", "lo");
            assert.match(link, /<LOOPBACK,UP,LOWER_UP>/, link);
            const addr = await exec(d, c, "ip", "-o", "-4", "addr", "show", "lo");
            assert.match(addr, /inet 127\.0\.0\.1\/8/, addr);
            assert.match(
              await exec(d, c, "ping", "-c", "1", "-W", "2", "127.0.0.1"),
              / 0% packet loss/,
            );
            assert.equal(await exec(d, c, "hostname"), name);
            assert.equal(
              await exec(d, c, "cat", "/proc/sys/kernel/shm_rmid_forced"),
              nodeShm === "1" ? "0" : "1",
            );
            assert.equal(
              await exec(d, c, "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"),
              "7",
            );
            assert.equal(
              readProc("/proc/sys/kernel/shm_rmid_forced"),
              nodeShm,
              "node's IPC sysctl",
            );
            assert.equal(
              readProc("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
              nodePort,
              "node's net sysctl",
            );
            assert.equal(Deno.hostname(), nodeHostname, "node's hostname");

            const stopped = await programsDuring(
              d,
              () =>
                call(d.clients.runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, {
                  deadlineMs: 60_000,
                }),
            );
            const dels = stopped.filter((p) => p.endsWith(" DEL")).sort();
            const undone = variant.runs.filter((p) => p.endsWith(" ADD"))
              .map((p) => p.replace(/ ADD$/, " DEL"));
            assert.deepEqual(dels, ["bridge DEL", ...undone].sort());
            await removeAllPods(d.clients);
            await assertNodeClean(d.dirs, d.pid, `after ${variant.name}`);
          } finally {
            await d.cleanup();
          }
        });
      }
    } finally {
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
