/**
 * Pod sandboxes end to end, against the real daemon with real conmon, runc and CNI bridge,
 * once per way a pod holds its namespaces (pinned files, the default; an infra container).
 * Root only. Network: bridge "ocidt2", 10.234.2.0/24 (a failing-CNI daemon: "ocidt12",
 * 10.234.12.0/24).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { alive, allocatedIps, grpcCode, listDir, sh } from "../helpers/checks.ts";
import {
  isDaemonDirMount,
  mountsUnder,
  pidsMentioning,
  startDaemon,
  testEachHolderMode,
} from "../helpers/daemon.ts";

function podConfig(
  name: string,
  extra: Partial<cri.PodSandboxConfigInit> = {},
): cri.PodSandboxConfigInit {
  return {
    metadata: { name, namespace: "it", uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    labels: { app: name, tier: "test" },
    annotations: { "example.com/note": "hello" },
    dns_config: {
      servers: ["10.234.2.53"],
      searches: ["it.svc.cluster.local"],
      options: ["ndots:5"],
    },
    port_mappings: [{ protocol: "TCP", container_port: 80, host_port: 0 }],
    linux: {
      cgroup_parent: "/ocid-it",
      sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" },
      security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
    },
    ...extra,
  };
}

async function run(
  clients: { runtime: grpc.Client },
  config: cri.PodSandboxConfigInit,
): Promise<string> {
  const res = await call(clients.runtime, "RunPodSandbox", { config }, { deadlineMs: 60_000 });
  return res.pod_sandbox_id;
}

testEachHolderMode({
  name: "RunPodSandbox runs a pod that Stop and Remove take apart without leaks",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t, mode) {
    const daemon = await startDaemon({
      bridge: "ocidt2",
      subnet: "10.234.2.0/24",
      dropInfraCtr: mode.dropInfraCtr,
    });
    const { runtime } = daemon.clients;
    try {
      await t.step("Version and Status report a ready runtime and network", async () => {
        const v = await call(runtime, "Version", { version: "v1" });
        assert.equal(v.runtime_name, "ocid");
        assert.equal(v.runtime_api_version, "v1");
        const s = await call(runtime, "Status", { verbose: false });
        const conds = Object.fromEntries(s.status!.conditions.map((c) => [c.type, c.status]));
        assert.deepEqual(conds, { RuntimeReady: true, NetworkReady: true });
        const rc = await call(runtime, "RuntimeConfig", {});
        assert.equal(rc.linux?.cgroup_driver, "CGROUPFS");
      });

      let id = "";
      let info: Record<string, unknown> = {};
      let ip = "";
      await t.step("a pod is READY with an IP in the test subnet", async () => {
        id = await run(daemon.clients, podConfig("web"));
        assert.match(id, /^[0-9a-f]{64}$/);
        const st = await call(runtime, "PodSandboxStatus", {
          pod_sandbox_id: id.slice(0, 12),
          verbose: true,
        });
        assert.equal(st.status!.id, id);
        assert.equal(st.status!.state, "SANDBOX_READY");
        ip = st.status!.network!.ip;
        assert.match(ip, /^10\.234\.2\.\d+$/);
        assert.equal(st.status!.labels.app, "web");
        assert.equal(st.status!.annotations["example.com/note"], "hello");
        assert.equal(st.status!.linux!.namespaces!.options!.network, "POD");
        assert.notEqual(st.status!.created_at, "0");
        info = JSON.parse(st.info.info!);
        assert.ok(await allocatedIps(daemon.dirs.cniDataDir).then((l) => l.includes(ip)));
      });

      await t.step("eth0 with the IP exists inside the pod's netns", async () => {
        const netns = info.netnsPath as string;
        assert.ok(netns);
        const addr = await sh(
          "nsenter",
          `--net=${netns}`,
          "ip",
          "-o",
          "-4",
          "addr",
          "show",
          "eth0",
        );
        assert.ok(addr.includes(`${ip}/24`), addr);
        const lo = await sh("nsenter", `--net=${netns}`, "ip", "-o", "link", "show", "lo");
        assert.match(lo, /UP|UNKNOWN/);
      });

      if (mode.infra) {
        await t.step("conmon and the pause process are alive", () => {
          assert.equal(info.holder, "infra");
          assert.ok(alive(info.pid as number), "pause process");
          assert.ok(alive(info.conmonPid as number), "conmon");
        });
      } else {
        await t.step("no process holds the pod: IPC and UTS are pinned files", async () => {
          assert.equal(info.holder, "pinned");
          assert.equal(info.pid, 0);
          assert.equal(info.conmonPid, 0);
          assert.deepEqual(await pidsMentioning(id), []);
          const mounts = await mountsUnder(daemon.dirs.runroot);
          assert.ok(mounts.includes(info.ipcPath as string), "IPC namespace pinned");
          assert.ok(mounts.includes(info.utsPath as string), "UTS namespace pinned");
          const self = await Deno.readLink("/proc/self/ns/ipc");
          const pod = await sh(
            "nsenter",
            `--ipc=${info.ipcPath}`,
            "readlink",
            "/proc/self/ns/ipc",
          );
          assert.notEqual(pod.trim(), self, "a new IPC namespace");
        });

        await t.step(
          "the hostname and the sysctls are set inside the pod's namespaces",
          async () => {
            const host = await sh("nsenter", `--uts=${info.utsPath}`, "hostname");
            assert.equal(host.trim(), "web");
            assert.notEqual(Deno.hostname(), "web");
            const port = await sh(
              "nsenter",
              `--net=${info.netnsPath}`,
              "cat",
              "/proc/sys/net/ipv4/ip_unprivileged_port_start",
            );
            assert.equal(port.trim(), "0");
            const hostPort = await Deno.readTextFile(
              "/proc/sys/net/ipv4/ip_unprivileged_port_start",
            );
            assert.notEqual(hostPort.trim(), "0", "the host keeps its value");
          },
        );
      }

      await t.step("the pod's files carry the DNS config", async () => {
        const resolv = await Deno.readTextFile(join(info.bundle as string, "resolv.conf"));
        assert.match(resolv, /nameserver 10\.234\.2\.53/);
        assert.match(resolv, /search it\.svc\.cluster\.local/);
        assert.match(resolv, /options ndots:5/);
      });

      if (mode.infra) {
        await t.step("config.json carries the pod's annotations and the DNS config", async () => {
          const spec = JSON.parse(
            await Deno.readTextFile(join(info.bundle as string, "config.json")),
          );
          assert.equal(spec.annotations["example.com/note"], "hello");
          assert.equal(spec.annotations["io.kubernetes.cri.sandbox-id"], id);
          assert.deepEqual(spec.process.args.slice(0, 1), ["/pause"]);
          assert.equal(spec.root.readonly, true);
          assert.equal(spec.hostname, "web");
          const resolv = await Deno.readTextFile(join(info.bundle as string, "resolv.conf"));
          assert.match(resolv, /nameserver 10\.234\.2\.53/);
          assert.match(resolv, /search it\.svc\.cluster\.local/);
          assert.match(resolv, /options ndots:5/);
          assert.equal(spec.linux.sysctl["net.ipv4.ip_unprivileged_port_start"], "0");
        });
      }

      await t.step("ListPodSandbox filters by ID prefix, state and labels", async () => {
        const other = await run(daemon.clients, podConfig("db"));
        const all = await call(runtime, "ListPodSandbox", {});
        assert.deepEqual(all.items.map((i) => i.id).sort(), [id, other].sort());
        const byPrefix = await call(runtime, "ListPodSandbox", { filter: { id: id.slice(0, 10) } });
        assert.deepEqual(byPrefix.items.map((i) => i.id), [id]);
        const byLabel = await call(runtime, "ListPodSandbox", {
          filter: { label_selector: { app: "db" } },
        });
        assert.deepEqual(byLabel.items.map((i) => i.id), [other]);
        const notReady = await call(runtime, "ListPodSandbox", {
          filter: { state: { state: "SANDBOX_NOTREADY" } },
        });
        assert.equal(notReady.items.length, 0);
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: other });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: other });
      });

      await t.step("a second pod with the same name fails and changes nothing", async () => {
        const before = await listDir(join(daemon.dirs.root, "sandboxes"));
        const code = await grpcCode(run(daemon.clients, podConfig("web")));
        assert.equal(code, grpc.status.ALREADY_EXISTS);
        assert.deepEqual(await listDir(join(daemon.dirs.root, "sandboxes")), before);
        assert.equal((await call(runtime, "ListPodSandbox", {})).items.length, 1);
      });

      await t.step("StopPodSandbox ends the infra and releases the IP, twice", async () => {
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: id });
        const st = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: id });
        assert.equal(st.status!.state, "SANDBOX_NOTREADY");
        // The network is torn down: no IP any more (containerd's getIPs for a closed netns).
        assert.equal(st.status!.network!.ip, "");
        assert.deepEqual(st.status!.network!.additional_ips, []);
        if (mode.infra) assert.ok(!alive(info.pid as number), "pause process gone");
        const mounts = await mountsUnder(daemon.dirs.runroot);
        assert.ok(!mounts.includes(info.ipcPath as string), "IPC namespace unpinned");
        assert.ok(!mounts.includes(info.utsPath as string), "UTS namespace unpinned");
        assert.deepEqual(await allocatedIps(daemon.dirs.cniDataDir), []);
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: id });
      });

      await t.step(
        "RemovePodSandbox leaves no dir, netns, mount, IP or process; twice",
        async () => {
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: id });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: id });
          assert.equal(
            await grpcCode(call(runtime, "PodSandboxStatus", { pod_sandbox_id: id })),
            grpc.status.NOT_FOUND,
          );
          assert.deepEqual(await listDir(join(daemon.dirs.root, "sandboxes")), []);
          assert.deepEqual(await listDir(join(daemon.dirs.runroot, "netns")), []);
          assert.deepEqual(
            await mountsUnder(daemon.dirs.base).then((m) => m.filter((p) => !isDaemonDirMount(p))),
            [],
          );
          assert.deepEqual(await listDir(join(daemon.dirs.runroot, "podns")), []);
          assert.deepEqual(await allocatedIps(daemon.dirs.cniDataDir), []);
          assert.deepEqual(await pidsMentioning(join(daemon.dirs.root, "sandboxes")), []);
        },
      );

      await t.step("invalid requests get INVALID_ARGUMENT and leave nothing", async () => {
        const noMeta = await grpcCode(
          call(runtime, "RunPodSandbox", { config: { hostname: "x" } }),
        );
        assert.equal(noMeta, grpc.status.INVALID_ARGUMENT);
        const badSysctl = await grpcCode(run(
          daemon.clients,
          podConfig("bad", {
            linux: { sysctls: { "kernel.shm_rmid_forced": "1+kernel.core_pattern=|/bin/sh" } },
          }),
        ));
        assert.equal(badSysctl, grpc.status.INVALID_ARGUMENT);
        const hostSysctl = await grpcCode(run(
          daemon.clients,
          podConfig("bad2", {
            linux: { sysctls: { "kernel.core_pattern": "x" } },
          }),
        ));
        assert.equal(hostSysctl, grpc.status.INVALID_ARGUMENT);
        // Sysctls of a namespace shared with the node are refused, never set on the node
        // (GHSA-w2j5-3rcx-vx7x: CRI-O set them there for host-network/host-IPC pods).
        const hostValues = async () => [
          await Deno.readTextFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
          await Deno.readTextFile("/proc/sys/kernel/shm_rmid_forced"),
          await Deno.readTextFile("/proc/sys/kernel/msgmax"),
        ];
        const before = await hostValues();
        const hostNet = await grpcCode(run(
          daemon.clients,
          podConfig("hostnet", {
            port_mappings: [],
            linux: {
              sysctls: { "net.ipv4.ip_unprivileged_port_start": "7" },
              security_context: {
                namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
              },
            },
          }),
        ));
        assert.equal(hostNet, grpc.status.INVALID_ARGUMENT);
        for (const sysctls of [{ "kernel.shm_rmid_forced": "1" }, { "kernel.msgmax": "4242" }]) {
          const hostIpc = await grpcCode(run(
            daemon.clients,
            podConfig("hostipc", {
              linux: {
                sysctls,
                security_context: {
                  namespace_options: { network: "POD", pid: "CONTAINER", ipc: "NODE" },
                },
              },
            }),
          ));
          assert.equal(hostIpc, grpc.status.INVALID_ARGUMENT);
        }
        assert.deepEqual(await hostValues(), before);

        assert.deepEqual(await listDir(join(daemon.dirs.root, "sandboxes")), []);
        assert.deepEqual(await listDir(join(daemon.dirs.runroot, "netns")), []);
        assert.deepEqual(await allocatedIps(daemon.dirs.cniDataDir), []);
        // The name of a rejected pod is free again.
        const ok = await run(daemon.clients, podConfig("bad"));
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: ok });
      });

      await t.step(
        "a log dir that cannot be made fails the pod and undoes the network wired meanwhile",
        async () => {
          // The log dir fails at once while the netns is made and CNI wires it in parallel:
          // the failure waits for them and undoes them too.
          const file = join(daemon.dirs.base, "not-a-dir");
          await Deno.writeTextFile(file, "");
          const code = await grpcCode(
            run(daemon.clients, podConfig("badlog", { log_directory: join(file, "logs") })),
          );
          assert.notEqual(code, grpc.status.OK);
          // Work still under way after the reply (a CNI ADD) would leave things a bit later.
          await new Promise((r) => setTimeout(r, 500));
          assert.deepEqual(await listDir(join(daemon.dirs.root, "sandboxes")), []);
          assert.deepEqual(await listDir(join(daemon.dirs.runroot, "sandboxes")), []);
          assert.deepEqual(await listDir(join(daemon.dirs.runroot, "netns")), []);
          assert.deepEqual(await listDir(join(daemon.dirs.runroot, "podns")), []);
          assert.deepEqual(await listDir(join(daemon.dirs.root, "cni-cache")), []);
          assert.deepEqual(await allocatedIps(daemon.dirs.cniDataDir), []);
          assert.deepEqual(
            await mountsUnder(daemon.dirs.base).then((m) => m.filter((p) => !isDaemonDirMount(p))),
            [],
          );
          assert.deepEqual(await pidsMentioning(join(daemon.dirs.root, "sandboxes")), []);
          assert.equal((await call(runtime, "ListPodSandbox", {})).items.length, 0);
        },
      );

      await t.step("unknown IDs: status NOT_FOUND, stop and remove succeed", async () => {
        const unknown = "f".repeat(64);
        assert.equal(
          await grpcCode(call(runtime, "PodSandboxStatus", { pod_sandbox_id: unknown })),
          grpc.status.NOT_FOUND,
        );
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: unknown });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: unknown });
      });
    } finally {
      await daemon.cleanup();
    }
  },
});

testEachHolderMode({
  name: "RunPodSandbox with a failing CNI plugin fails and leaves nothing behind",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(_t, mode) {
    const daemon = await startDaemon({
      bridge: "ocidt12",
      subnet: "10.234.12.0/24",
      dropInfraCtr: mode.dropInfraCtr,
      // A plugin type that does not exist: the bridge ADD succeeds first, then the chain fails.
      extraPlugins: [{ type: "ocid-no-such-plugin" }],
    });
    const { runtime } = daemon.clients;
    try {
      const status = await call(runtime, "Status", {});
      const net = status.status!.conditions.find((c) => c.type === "NetworkReady");
      assert.equal(net?.status, false, "a conflist with a missing plugin is not ready");
      const code = await grpcCode(run(daemon.clients, podConfig("failing")));
      assert.notEqual(code, grpc.status.OK);
      assert.deepEqual(await listDir(join(daemon.dirs.root, "sandboxes")), []);
      assert.deepEqual(await listDir(join(daemon.dirs.runroot, "netns")), []);
      assert.deepEqual(await allocatedIps(daemon.dirs.cniDataDir), []);
      assert.deepEqual(
        await mountsUnder(daemon.dirs.base).then((m) => m.filter((p) => !isDaemonDirMount(p))),
        [],
      );
      assert.deepEqual(await listDir(join(daemon.dirs.runroot, "podns")), []);
      assert.deepEqual(await pidsMentioning(join(daemon.dirs.root, "sandboxes")), []);
      assert.equal((await call(runtime, "ListPodSandbox", {})).items.length, 0);
    } finally {
      await daemon.cleanup();
    }
  },
});
