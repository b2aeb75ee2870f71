/**
 * The Prometheus endpoint against the real daemon (conmon, runc, CNI bridge, the test
 * registry). Root only. Network: bridge "ocidt40", 10.234.40.0/24; the scrape goes to
 * 127.0.0.1.
 *
 * The daemon starts with `--metrics-port`; the test pulls an image (and one that does not
 * exist), runs a pod with a running container, a container that is OOM-killed and one whose
 * command does not exist, removes everything, and checks the counters and gauges of each scrape
 * against what it did.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call, stream } from "../../src/cri/proto.ts";
import { grpcCode, pushBusybox, waitFor, waitForSignalHandler } from "../helpers/checks.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/free_port.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt40";
const SUBNET = "10.234.40.0/24";
const CGROUP_PARENT = "/ocid-it40";
const NAMESPACE = "metrics-ns";

/** The value of one sample, by name and exact label set; undefined when absent. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",");
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? "").split(/,(?=[a-z_]+=")/).filter((s) => s !== "").sort().join(",");
    if (got === want) return Number(m[3]);
  }
  return undefined;
}

Deno.test({
  name: "the metrics endpoint counts a pod lifecycle",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await using registry = await startRegistry();
  const image = await pushBusybox(registry.host, "it40/busybox");
  const port = freePort();
  const daemon = await startDaemon({
    bridge: BRIDGE,
    subnet: SUBNET,
    flags: ["--metrics-port", String(port)],
  });
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    return await res.text();
  };
  const { runtime, image: images } = daemon.clients;
  try {
    await t.step("before any pod: gauges at zero, start-up RPCs counted", async () => {
      const text = await scrape();
      assert.equal(sample(text, "ocid_pods", { state: "SANDBOX_READY" }), 0);
      assert.equal(sample(text, "ocid_containers", { state: "CONTAINER_RUNNING" }), 0);
      assert.ok(
        (sample(text, "ocid_operations_total", { operation: "Version", code: "OK" }) ?? 0) >= 1,
      );
      assert.ok((sample(text, "process_resident_memory_bytes") ?? 0) > 10e6);
      assert.ok((sample(text, "process_open_fds") ?? 0) > 3);
    });

    await t.step("pulls: bytes and duration on success, the reason on failure", async () => {
      await call(images, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const missing = `${registry.host}/it40/missing:1`;
      assert.notEqual(await grpcCode(call(images, "PullImage", { image: { image: missing } })), 0);
      const text = await scrape();
      assert.equal(sample(text, "ocid_image_pulls_total"), 1);
      assert.ok((sample(text, "ocid_image_pull_bytes_total") ?? 0) > 100_000);
      assert.equal(sample(text, "ocid_image_pull_duration_seconds_count"), 1);
      const failures = text.split("\n").filter((l) =>
        l.startsWith("ocid_image_pull_failures_total{")
      );
      assert.equal(failures.length, 1, failures.join("\n"));
      assert.match(failures[0]!, /\{reason="[A-Za-z_]+"\} 1$/);
      assert.equal(
        sample(text, "ocid_operations_total", { operation: "PullImage", code: "OK" }),
        1,
      );
    });

    const pod = await runTestPod(
      runtime,
      testPodConfig("metrics", { namespace: NAMESPACE, cgroupParent: CGROUP_PARENT }),
    );
    await t.step("a running pod and container show in the gauges and counters", async () => {
      const id = await createTestContainer(runtime, pod, {
        name: "sleeper",
        image,
        command: ["/bin/sleep", "3600"],
      });
      const runcBefore = sample(await scrape(), "ocid_processes_spawned_total", {
        program: "runc",
      });
      await call(runtime, "StartContainer", { container_id: id });
      const text = await scrape();
      // runc is started through its exec FIFO (src/oci/exec_fifo.ts): no `runc start` process.
      assert.equal(
        sample(text, "ocid_processes_spawned_total", { program: "runc" }),
        runcBefore,
        "StartContainer ran a runc process",
      );
      assert.equal(sample(text, "ocid_pods", { state: "SANDBOX_READY" }), 1);
      assert.equal(sample(text, "ocid_containers", { state: "CONTAINER_RUNNING" }), 1);
      assert.equal(
        sample(text, "ocid_operations_total", { operation: "RunPodSandbox", code: "OK" }),
        1,
      );
      assert.equal(
        sample(text, "ocid_operations_latency_seconds_count", { operation: "RunPodSandbox" }),
        1,
      );
      assert.equal(
        sample(text, "ocid_operations_latency_seconds_bucket", {
          operation: "RunPodSandbox",
          le: "60",
        }),
        1,
      );
      // A pod without an infra container (drop_infra_ctr) and one container: one conmon; runc
      // ran (its features at start, and more); the CNI chain ran.
      assert.equal(sample(text, "ocid_processes_spawned_total", { program: "conmon" }), 1);
      assert.ok((sample(text, "ocid_processes_spawned_total", { program: "runc" }) ?? 0) >= 2);
      assert.ok((sample(text, "ocid_processes_spawned_total", { program: "bridge" }) ?? 0) >= 1);
      assert.equal(sample(text, "ocid_conmon_spawn_failures_total"), 0);
    });

    await t.step(
      "a container whose command is missing counts as a conmon spawn failure",
      async () => {
        const code = await grpcCode(
          createTestContainer(runtime, pod, {
            name: "missing-command",
            image,
            command: ["/no/such/program"],
          }).then((id) => call(runtime, "StartContainer", { container_id: id })),
        );
        assert.notEqual(code, 0);
        const text = await scrape();
        assert.equal(sample(text, "ocid_conmon_spawn_failures_total"), 1);
      },
    );

    await t.step("an OOM kill is counted by the pod's namespace", async () => {
      const limit = 16 * 1024 * 1024;
      const id = await createTestContainer(runtime, pod, {
        name: "hog",
        image,
        command: [
          "/bin/sh",
          "-c",
          "x=$(/bin/busybox head -c 200000000 /dev/zero | /bin/busybox tr '\\0' a); echo survived",
        ],
        config: {
          linux: { resources: { memory_limit_in_bytes: limit, memory_swap_limit_in_bytes: limit } },
        },
      });
      await call(runtime, "StartContainer", { container_id: id });
      await waitFor("the hog to exit", async () => {
        const st = await call(runtime, "ContainerStatus", { container_id: id });
        return st.status?.state === "CONTAINER_EXITED" ? st.status : undefined;
      }, { timeoutMs: 30_000 });
      const text = await scrape();
      assert.equal(sample(text, "ocid_containers_oom_killed_total", { namespace: NAMESPACE }), 1);
      assert.equal(sample(text, "ocid_containers", { state: "CONTAINER_EXITED" }), 1);
    });

    await t.step("StopContainer and the exit's cleanup run no runc process", async () => {
      // The first traps SIGTERM (exit 3); the second is killed at once (timeout 0: SIGKILL).
      const cases = [
        { name: "term", timeout: "30", code: 3 },
        { name: "kill", timeout: "0", code: 137 },
      ];
      for (const { name, timeout, code } of cases) {
        const id = await createTestContainer(runtime, pod, {
          name: `stop-${name}`,
          image,
          command: ["/bin/sh", "-c", 'trap "exit 3" TERM; sleep 3600 & wait'],
        });
        await call(runtime, "StartContainer", { container_id: id });
        const stateDir = join(daemon.dirs.runroot, "runc", id);
        const state = JSON.parse(await Deno.readTextFile(join(stateDir, "state.json")));
        const cgroups = Object.values(state.cgroup_paths) as string[];
        // The trap must be in place, or the SIGTERM is lost (PID 1) and SIGKILL comes at 30 s.
        if (name === "term") await waitForSignalHandler(state.init_process_pid, 15);
        assert.ok(cgroups.length > 0, "runc recorded the container's cgroups");
        const runcBefore = sample(await scrape(), "ocid_processes_spawned_total", {
          program: "runc",
        });
        await call(runtime, "StopContainer", { container_id: id, timeout });
        const st = await call(runtime, "ContainerStatus", { container_id: id });
        assert.equal(st.status?.state, "CONTAINER_EXITED");
        assert.equal(st.status?.exit_code, code, name);
        // The exit's cleanup (in the background) deletes the runtime's state and cgroups itself.
        await waitFor("the exit's cleanup", async () => {
          const gone = await Deno.lstat(stateDir).then(() => false, () => true);
          return gone ? true : undefined;
        });
        for (const dir of cgroups) {
          await assert.rejects(Deno.lstat(dir), Deno.errors.NotFound, `${dir} was removed`);
        }
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(
          sample(await scrape(), "ocid_processes_spawned_total", { program: "runc" }),
          runcBefore,
          `StopContainer (timeout ${timeout}) or its cleanup ran a runc process`,
        );
      }
    });

    await t.step("after removal the gauges are back at zero; errors count by code", async () => {
      await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
      assert.equal(await grpcCode(call(runtime, "ContainerStatus", { container_id: "nosuch" })), 5);
      const text = await scrape();
      for (const state of ["CONTAINER_CREATED", "CONTAINER_RUNNING", "CONTAINER_EXITED"]) {
        assert.equal(sample(text, "ocid_containers", { state }), 0, state);
      }
      assert.equal(sample(text, "ocid_pods", { state: "SANDBOX_READY" }), 0);
      assert.equal(sample(text, "ocid_pods", { state: "SANDBOX_NOTREADY" }), 0);
      assert.equal(
        sample(text, "ocid_operations_total", { operation: "RemovePodSandbox", code: "OK" }),
        1,
      );
      assert.equal(
        sample(text, "ocid_operations_total", { operation: "ContainerStatus", code: "NOT_FOUND" }),
        1,
      );
      const other = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(other.status, 404);
      await other.body?.cancel();
    });

    await t.step("a PID-sharing pod's infra container starts without a runc process", async () => {
      const before = await scrape();
      const config = testPodConfig("metrics-infra", {
        namespace: NAMESPACE,
        cgroupParent: CGROUP_PARENT,
      });
      config.linux!.security_context!.namespace_options!.pid = "POD";
      const infraPod = await runTestPod(runtime, config);
      const after = await scrape();
      // The infra container: one more conmon (its `runc create`), and started through the exec
      // FIFO like any runc container.
      const count = (text: string, program: string) =>
        sample(text, "ocid_processes_spawned_total", { program }) ?? 0;
      assert.equal(count(after, "conmon"), count(before, "conmon") + 1);
      assert.equal(count(after, "runc"), count(before, "runc"), "RunPodSandbox ran runc");
      const st = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: infraPod.id });
      assert.equal(st.status?.state, "SANDBOX_READY");
      await call(runtime, "StopPodSandbox", { pod_sandbox_id: infraPod.id });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: infraPod.id });
    });

    await t.step("a GetContainerEvents stream the client cancels is counted", async () => {
      const controller = new AbortController();
      const events = stream(runtime, "GetContainerEvents", {}, controller);
      const reading = (async () => {
        for await (const _ of events) { /* none expected */ }
      })().catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
      controller.abort();
      await reading;
      await waitFor("the cancelled stream to be counted", async () => {
        const n = sample(await scrape(), "ocid_operations_total", {
          operation: "GetContainerEvents",
          code: "CANCELLED",
        });
        return n === 1 ? true : undefined;
      });
    });

    await t.step("the endpoint closes with the daemon", async () => {
      const status = await daemon.stop();
      assert.equal(status.code, 0, daemon.output());
      await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
    });
  } finally {
    await daemon.cleanup();
    await removeCgroupParent(CGROUP_PARENT);
  }
});
