/**
 * The stats RPCs and UpdateRuntimeConfig end to end, against the real daemon with real conmon,
 * runc, CNI bridge and the test registry. Root only. Network: bridge "ocidt15",
 * 10.234.15.0/24; the only traffic is pings between the pods and the host on that bridge (the
 * pod's gateway, and the pods' IPs from the host: a pod without a process still counts).
 *
 * The pod runs under a cgroup parent of its own, so PodSandboxStats reads a real pod cgroup;
 * the test removes that parent cgroup from every hierarchy at the end.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { grpcCode, pushBusybox, waitFor } from "../helpers/checks.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt15";
const SUBNET = "10.234.15.0/24";
const GATEWAY = "10.234.15.1";
const CGROUP_PARENT = `/ocid-it15-${crypto.randomUUID().slice(0, 8)}`;
/** This suite polls every 100 ms (for the default 30 s). */
const POLL = { intervalMs: 100 };

/** Removes the pod's parent cgroup from every hierarchy (after its children are gone). */
async function removeParentCgroups(): Promise<string[]> {
  const left: string[] = [];
  for await (const e of Deno.readDir("/sys/fs/cgroup")) {
    const dir = join("/sys/fs/cgroup", e.name, CGROUP_PARENT);
    try {
      await Deno.remove(dir);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) left.push(`${dir}: ${err}`);
    }
  }
  return left;
}

const big = (v: { value: string } | null | undefined) => BigInt(v?.value ?? "-1");

/** Pings a pod from the host, over the test's bridge (busybox: no iputils on the host). */
async function pingFromHost(ip: string): Promise<void> {
  const out = await new Deno.Command("busybox", {
    args: ["ping", "-c", "3", "-W", "2", ip],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
}

Deno.test({
  name: "Stats RPCs report real cgroup, writable-layer and network usage",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it15/busybox");
      daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
      const runtime = daemon.clients.runtime;
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const podConfig: cri.PodSandboxConfigInit = {
        metadata: { name: "stats", namespace: "it15", uid: "uid-stats", attempt: 0 },
        hostname: "stats",
        labels: { suite: "stats" },
        linux: {
          cgroup_parent: CGROUP_PARENT,
          security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
        },
      };
      const podId = (await call(runtime, "RunPodSandbox", { config: podConfig }, {
        deadlineMs: 60_000,
      })).pod_sandbox_id;
      const create = async (name: string, config: cri.ContainerConfigInit) => {
        const res = await call(runtime, "CreateContainer", {
          pod_sandbox_id: podId,
          sandbox_config: podConfig,
          config: {
            metadata: { name, attempt: 0 },
            image: { image },
            log_path: `${name}/0.log`,
            labels: { role: name },
            ...config,
          },
        }, { deadlineMs: 60_000 });
        await call(runtime, "StartContainer", { container_id: res.container_id });
        return res.container_id;
      };
      const stats = async (id: string) =>
        (await call(runtime, "ContainerStats", { container_id: id })).stats!;

      // Writes 200 kB to its writable layer, holds ~30 MB in a shell variable, then spins.
      const hog = await create("hog", {
        command: [
          "/bin/sh",
          "-c",
          "/bin/busybox head -c 200000 /dev/zero > /written; " +
          "x=$(/bin/busybox head -c 30000000 /dev/zero | /bin/busybox tr '\\0' a); " +
          "echo allocated; i=0; while true; do i=$((i+1)); done",
        ],
      });
      const idle = await create("idle", {
        command: ["/bin/sleep", "3600"],
        linux: { security_context: { capabilities: { add_capabilities: ["NET_RAW"] } } },
      });

      await t.step("a container allocating memory shows its memory usage", async () => {
        const s = await waitFor("the hog's memory to grow past 25 MB", async () => {
          const s = await stats(hog);
          return big(s.memory?.usage_bytes) > 25_000_000n ? s : undefined;
        }, POLL);
        assert.equal(s.attributes?.id, hog);
        assert.equal(s.attributes?.metadata?.name, "hog");
        assert.deepEqual(s.attributes?.labels, { role: "hog" });
        assert.ok(big(s.memory?.working_set_bytes) > 0n, JSON.stringify(s.memory));
        assert.ok(big(s.memory?.rss_bytes) > 0n, JSON.stringify(s.memory));
        assert.ok(big(s.memory?.page_faults) > 0n, JSON.stringify(s.memory));
        assert.ok(BigInt(s.memory!.timestamp) > 0n);
      });

      await t.step("its CPU usage increases between two calls, and has a rate", async () => {
        const first = await stats(hog);
        const c1 = big(first.cpu?.usage_core_nano_seconds);
        assert.ok(c1 > 0n, JSON.stringify(first.cpu));
        // A rate needs a previous sample at least 100 ms older: poll until one is given.
        const second = await waitFor("CPU time to increase, with a rate", async () => {
          const s = await stats(hog);
          return big(s.cpu?.usage_core_nano_seconds) > c1 && s.cpu?.usage_nano_cores
            ? s
            : undefined;
        }, POLL);
        assert.ok(BigInt(second.cpu!.timestamp) > BigInt(first.cpu!.timestamp));
        assert.ok(big(second.cpu?.usage_nano_cores) > 0n, JSON.stringify(second.cpu));
      });

      await t.step("the writable layer shows what the container wrote", async () => {
        const s = await waitFor("the writable layer to count /written", async () => {
          const s = await stats(hog);
          return big(s.writable_layer?.used_bytes) >= 200_000n ? s : undefined;
        }, POLL);
        assert.ok(big(s.writable_layer?.inodes_used) >= 1n);
        assert.equal(s.writable_layer?.fs_id?.mountpoint, `${daemon!.dirs.root}/containers`);
      });

      await t.step("ListContainerStats filters by ID prefix, pod and labels", async () => {
        const list = async (filter: cri.ContainerStatsFilterInit | null) =>
          (await call(runtime, "ListContainerStats", { filter })).stats.map((s) => s.attributes!.id)
            .sort();
        assert.deepEqual(await list(null), [hog, idle].sort());
        assert.deepEqual(await list({ id: hog.slice(0, 12) }), [hog]);
        assert.deepEqual(await list({ pod_sandbox_id: podId.slice(0, 12) }), [hog, idle].sort());
        assert.deepEqual(await list({ pod_sandbox_id: "0000ffff" }), []);
        assert.deepEqual(await list({ label_selector: { role: "idle" } }), [idle]);
        assert.deepEqual(await list({ id: idle, label_selector: { role: "hog" } }), []);
      });

      await t.step("PodSandboxStats shows the pod's traffic to its gateway", async () => {
        const podStats = async () =>
          (await call(runtime, "PodSandboxStats", { pod_sandbox_id: podId })).stats!;
        const before = await podStats();
        const eth0 = before.linux?.network?.default_interface;
        assert.equal(eth0?.name, "eth0", JSON.stringify(before.linux?.network));
        const ping = await call(runtime, "ExecSync", {
          container_id: idle,
          cmd: ["/bin/busybox", "ping", "-c", "3", "-W", "2", GATEWAY],
          timeout: 20,
        }, { deadlineMs: 30_000 });
        assert.equal(
          ping.exit_code,
          0,
          new TextDecoder().decode(ping.stdout) + new TextDecoder().decode(ping.stderr),
        );
        const after = await podStats();
        const eth0After = after.linux!.network!.default_interface!;
        // Three echo requests and replies of 84 bytes of IP each, plus the Ethernet headers.
        assert.ok(big(eth0After.tx_bytes) >= big(eth0!.tx_bytes) + 3n * 84n, "tx grew");
        assert.ok(big(eth0After.rx_bytes) >= big(eth0!.rx_bytes) + 3n * 84n, "rx grew");
        assert.equal(after.attributes?.id, podId);
        assert.deepEqual(after.attributes?.labels, { suite: "stats" });
        const linux = after.linux!;
        assert.ok(big(linux.cpu?.usage_core_nano_seconds) > 0n, JSON.stringify(linux.cpu));
        assert.ok(big(linux.memory?.usage_bytes) > 25_000_000n, JSON.stringify(linux.memory));
        // The hog's shell and sleep at least (the pod has no pause process: drop_infra_ctr).
        assert.ok(big(linux.process?.process_count) >= 2n, JSON.stringify(linux.process));
        assert.deepEqual(linux.containers.map((c) => c.attributes!.id).sort(), [hog, idle].sort());
      });

      await t.step("ListPodSandboxStats lists the pod, filtered by labels", async () => {
        const all = await call(runtime, "ListPodSandboxStats", { filter: null });
        assert.deepEqual(all.stats.map((s) => s.attributes!.id), [podId]);
        const none = await call(runtime, "ListPodSandboxStats", {
          filter: { label_selector: { suite: "other" } },
        });
        assert.deepEqual(none.stats, []);
      });

      const eth0Of = async (id: string) => {
        const s = (await call(runtime, "PodSandboxStats", { pod_sandbox_id: id })).stats!;
        const eth0 = s.linux?.network?.default_interface;
        assert.equal(eth0?.name, "eth0", JSON.stringify(s.linux?.network ?? null));
        return eth0!;
      };
      const ipOf = async (id: string) =>
        (await call(runtime, "PodSandboxStatus", { pod_sandbox_id: id })).status!.network!.ip;

      await t.step("once its containers exited, the pod still reports its traffic", async () => {
        await call(runtime, "StopContainer", { container_id: hog, timeout: 0 });
        await call(runtime, "StopContainer", { container_id: idle, timeout: 0 });
        // No process is left in the pod (no infra process): the pinned netns is read.
        const before = await eth0Of(podId);
        await pingFromHost(await ipOf(podId));
        const after = await eth0Of(podId);
        assert.ok(big(after.rx_bytes) >= big(before.rx_bytes) + 3n * 84n, "rx grew");
        assert.ok(big(after.tx_bytes) >= big(before.tx_bytes) + 3n * 84n, "tx grew");
        const listed = await call(runtime, "ListPodSandboxStats", { filter: null });
        const eth0 = listed.stats[0]?.linux?.network?.default_interface;
        assert.ok(big(eth0?.rx_bytes) >= big(after.rx_bytes), JSON.stringify(eth0 ?? null));
        const metrics = await call(runtime, "ListPodSandboxMetrics", {});
        const rx = metrics.pod_metrics.find((m) => m.pod_sandbox_id === podId)?.metrics.find((m) =>
          m.name === "container_network_receive_bytes_total" && m.label_values.at(-1) === "eth0"
        );
        assert.ok(big(rx?.value) >= big(after.rx_bytes), JSON.stringify(rx ?? null));
      });

      await t.step("a pod that never had a container reports its traffic", async () => {
        const lone = (await call(runtime, "RunPodSandbox", {
          config: {
            ...podConfig,
            metadata: { name: "lone", namespace: "it15", uid: "uid-lone", attempt: 0 },
            hostname: "lone",
            labels: { suite: "lone" },
          },
        }, { deadlineMs: 60_000 })).pod_sandbox_id;
        try {
          const before = await eth0Of(lone);
          await pingFromHost(await ipOf(lone));
          const after = await eth0Of(lone);
          assert.ok(big(after.rx_bytes) >= big(before.rx_bytes) + 3n * 84n, "rx grew");
        } finally {
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: lone }, { deadlineMs: 60_000 });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: lone }, { deadlineMs: 60_000 });
        }
      });

      await t.step("unknown IDs give NOT_FOUND", async () => {
        assert.equal(
          await grpcCode(call(runtime, "ContainerStats", { container_id: "ffffffff0000" })),
          grpc.status.NOT_FOUND,
        );
        assert.equal(
          await grpcCode(call(runtime, "PodSandboxStats", { pod_sandbox_id: "ffffffff0000" })),
          grpc.status.NOT_FOUND,
        );
      });

      await t.step("UpdateRuntimeConfig accepts the pod CIDR", async () => {
        await call(runtime, "UpdateRuntimeConfig", {
          runtime_config: { network_config: { pod_cidr: SUBNET } },
        });
        // The daemon's stderr arrives asynchronously: wait for the line.
        await waitFor("the pod CIDR in the daemon log", () =>
          Promise.resolve(
            /Pod CIDR received.*10\.234\.15\.0\/24/.test(daemon!.output()) || undefined,
          ), POLL);
      });

      await call(runtime, "StopPodSandbox", { pod_sandbox_id: podId }, { deadlineMs: 60_000 });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: podId }, { deadlineMs: 60_000 });
    } finally {
      await daemon?.cleanup();
      const left = await removeParentCgroups();
      assert.deepEqual(left, [], "the pod's parent cgroup is removed");
    }
  },
});
