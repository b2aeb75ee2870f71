/**
 * RuntimeClass handlers against the real daemon: runc under a second handler name with its own
 * state root proves the routing (the pod, its containers, ExecSync and a streamed exec all use
 * that root); an unknown handler is refused naming the configured ones; Status reports each
 * handler's recursive read-only mounts as its runtime can make them, and runc's are read-only
 * below their submounts; crun, which refuses this machine's hybrid cgroups and cannot tell its
 * features, fails with its reason (an rro mount before anything is made) and leaves nothing
 * behind. Root only. Network: bridge "ocidt41", 10.234.41.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { text } from "../../src/process.ts";
import { denoRunner } from "../../src/process.ts";
import { allocatedIps, grpcCode, listDir, pushBusybox } from "../helpers/checks.ts";
import { makeTestDirs, startDaemon } from "../helpers/daemon.ts";
import { goStream } from "../helpers/go_stream.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt41";
const SUBNET = "10.234.41.0/24";
const CGROUP_PARENT = "/ocid-it41";

/** A pod that shares its PID namespace, so it keeps an infra container (drop_infra_ctr). */
function withInfra(config: cri.PodSandboxConfigInit): cri.PodSandboxConfigInit {
  config.linux!.security_context!.namespace_options!.pid = "POD";
  return config;
}

/** Container ids in a runc state root. */
async function runcIds(root: string): Promise<string[]> {
  const res = await denoRunner.run("/usr/sbin/runc", ["--root", root, "list", "-q"], {
    check: false,
  });
  return text(res.stdout).split("\n").filter((l) => l !== "").sort();
}

Deno.test({
  name: "RuntimeClass handlers route pods and containers to their runtime",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await using registry = await startRegistry();
  const image = await pushBusybox(registry.host, "it41/busybox");
  const options = { bridge: BRIDGE, subnet: SUBNET };
  const dirs = await makeTestDirs(options);
  const rootB = join(dirs.base, "runc-b-state");
  const crunRoot = join(dirs.base, "crun-state");
  await Deno.mkdir(join(dirs.base, "ocid.conf.d"));
  await Deno.writeTextFile(
    join(dirs.base, "ocid.conf.d/10-handlers.conf"),
    `[runtimes.runc-b]\nruntime_path = "/usr/sbin/runc"\nruntime_root = "${rootB}"\n` +
      `[runtimes.crun]\nruntime_path = "/usr/bin/crun"\nruntime_root = "${crunRoot}"\n`,
  );
  const daemon = await startDaemon({ ...options, dirs });
  const { runtime } = daemon.clients;
  const defaultRoot = join(dirs.runroot, "runc");
  try {
    await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });

    await t.step("Status names the default and every configured handler", async () => {
      const res = await call(runtime, "Status", {});
      assert.deepEqual(res.runtime_handlers.map((h) => h.name), ["", "crun", "runc", "runc-b"]);
    });

    await t.step(
      "Status reports each handler's rro mounts as its runtime and the kernel allow",
      async () => {
        // Asked of this machine here, not assumed: runc lists "rro" when it can, and the kernel
        // needs mount_setattr (5.12).
        const doc = JSON.parse(text((await denoRunner.run("/usr/sbin/runc", ["features"])).stdout));
        const [major, minor] = Deno.osRelease().split(".").map(Number) as [number, number];
        const runcRro = doc.mountOptions.includes("rro") &&
          (major > 5 || (major === 5 && minor >= 12));
        const res = await call(runtime, "Status", {});
        assert.deepEqual(
          res.runtime_handlers.map((h) => [h.name, h.features?.recursive_read_only_mounts]),
          [["", runcRro], ["crun", false], ["runc", runcRro], ["runc-b", runcRro]],
        );
        assert.ok(runcRro, "runc 1.1 on Linux 6 makes rro mounts: this machine changed");
      },
    );

    await t.step(
      "an rro mount is read-only below its submounts too; a plain ro one is not",
      async () => {
        // A host dir with a tmpfs mounted inside it, as kubelet's pod volumes often have.
        const host = join(dirs.base, "rro-src");
        await Deno.mkdir(join(host, "sub"), { recursive: true });
        await denoRunner.run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", join(host, "sub")]);
        try {
          const pod = await runTestPod(
            runtime,
            testPodConfig("pod-rro", { namespace: "handlers", cgroupParent: CGROUP_PARENT }),
          );
          const ctr = await createTestContainer(runtime, pod, {
            name: "rro",
            image,
            command: ["/bin/sleep", "3600"],
            config: {
              mounts: [
                {
                  container_path: "/rro",
                  host_path: host,
                  readonly: true,
                  recursive_read_only: true,
                },
                { container_path: "/ro", host_path: host, readonly: true },
              ],
            },
          });
          await call(runtime, "StartContainer", { container_id: ctr });
          const write = async (path: string) => {
            const res = await call(runtime, "ExecSync", {
              container_id: ctr,
              cmd: ["/bin/sh", "-c", `echo x > ${path}`],
              timeout: 10,
            });
            return res.exit_code === 0 ? "written" : text(res.stderr).trim();
          };
          assert.match(await write("/rro/sub/x"), /Read-only file system/);
          assert.match(await write("/ro/x"), /Read-only file system/);
          assert.equal(await write("/ro/sub/y"), "written", "ro alone leaves submounts writable");
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, {
            deadlineMs: 60_000,
          });
        } finally {
          await denoRunner.run("umount", [join(host, "sub")], { check: false });
        }
      },
    );

    await t.step(
      "a pod of handler runc-b, its container and its execs live in its root",
      async () => {
        const config = withInfra(testPodConfig("pod-b", {
          namespace: "handlers",
          cgroupParent: CGROUP_PARENT,
        }));
        const res = await call(runtime, "RunPodSandbox", { config, runtime_handler: "runc-b" }, {
          deadlineMs: 60_000,
        });
        const pod = { id: res.pod_sandbox_id, config };
        const ctr = await createTestContainer(runtime, pod, {
          name: "sleeper",
          image,
          command: ["/bin/sleep", "3600"],
        });
        await call(runtime, "StartContainer", { container_id: ctr });
        assert.deepEqual(await runcIds(rootB), [pod.id, ctr].sort());
        assert.deepEqual(await runcIds(defaultRoot), []);
        const st = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: pod.id });
        assert.equal(st.status?.runtime_handler, "runc-b");
        const exec = await call(runtime, "ExecSync", {
          container_id: ctr,
          cmd: ["/bin/echo", "routed"],
          timeout: 10,
        });
        assert.equal(new TextDecoder().decode(exec.stdout), "routed\n");
        const { url } = await call(runtime, "Exec", {
          container_id: ctr,
          cmd: ["/bin/echo", "streamed"],
          stdout: true,
        });
        const streamed = await goStream(["exec", url]);
        assert.equal(streamed.stdout, "streamed\n", streamed.stderr);
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
        assert.deepEqual(await runcIds(rootB), []);
      },
    );

    await t.step("a pod without a handler uses the default runtime's root", async () => {
      const pod = await runTestPod(
        runtime,
        withInfra(
          testPodConfig("pod-default", { namespace: "handlers", cgroupParent: CGROUP_PARENT }),
        ),
      );
      assert.deepEqual(await runcIds(defaultRoot), [pod.id]);
      assert.deepEqual(await runcIds(rootB), []);
      await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
    });

    await t.step("an unknown handler is INVALID_ARGUMENT naming the configured ones", async () => {
      const config = testPodConfig("pod-kata", {
        namespace: "handlers",
        cgroupParent: CGROUP_PARENT,
      });
      const err = await call(runtime, "RunPodSandbox", { config, runtime_handler: "kata" }).then(
        () => undefined,
        (e: { code: number; details: string }) => e,
      );
      assert.equal(err?.code, 3);
      assert.equal(
        err?.details,
        'Unknown runtime handler "kata"; configured: "crun", "runc", "runc-b" ("" is "runc")',
      );
      // PullImage names the pod's handler too (the kubelet's RuntimeClassInImageCriApi).
      const images = daemon.clients.image;
      const pullErr = await call(images, "PullImage", {
        image: { image, runtime_handler: "kata" },
      }).then(() => undefined, (e: { code: number; details: string }) => e);
      assert.equal(pullErr?.code, 3);
      assert.match(pullErr?.details ?? "", /^Unknown image\.runtime_handler "kata"/);
      const pulled = await call(images, "PullImage", {
        image: { image, runtime_handler: "runc-b" },
      }, { deadlineMs: 60_000 });
      assert.match(pulled.image_ref, /^sha256:/);
    });

    await t.step(
      "a pod without an infra container sends its containers to its handler",
      async () => {
        const config = testPodConfig("pod-b2", {
          namespace: "handlers",
          cgroupParent: CGROUP_PARENT,
        });
        const res = await call(runtime, "RunPodSandbox", { config, runtime_handler: "runc-b" }, {
          deadlineMs: 60_000,
        });
        const pod = { id: res.pod_sandbox_id, config };
        assert.deepEqual(await runcIds(rootB), [], "no infra container");
        const ctr = await createTestContainer(runtime, pod, {
          name: "sleeper",
          image,
          command: ["/bin/sleep", "3600"],
        });
        await call(runtime, "StartContainer", { container_id: ctr });
        assert.deepEqual(await runcIds(rootB), [ctr]);
        assert.deepEqual(await runcIds(defaultRoot), []);
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
        assert.deepEqual(await runcIds(rootB), []);
      },
    );

    await t.step(
      "crun on hybrid cgroups: a container fails with its reason and leaves nothing",
      async () => {
        const config = testPodConfig("pod-crun2", {
          namespace: "handlers",
          cgroupParent: CGROUP_PARENT,
        });
        const res = await call(runtime, "RunPodSandbox", { config, runtime_handler: "crun" }, {
          deadlineMs: 60_000,
        });
        const pod = { id: res.pod_sandbox_id, config };
        // crun 1.8 cannot tell its features: an rro mount is refused before anything is made.
        const rro = await createTestContainer(runtime, pod, {
          name: "rro",
          image,
          command: ["/bin/sleep", "3600"],
          config: {
            mounts: [{
              container_path: "/rro",
              host_path: dirs.base,
              readonly: true,
              recursive_read_only: true,
            }],
          },
        }).then(() => undefined, (e: { code: number; details: string }) => e);
        assert.equal(rro?.code, 9, "FAILED_PRECONDITION");
        assert.match(
          rro.details,
          /runtime handler "crun" cannot make mounts recursively read-only/,
        );
        assert.deepEqual(await listDir(crunRoot), []);
        const err = await createTestContainer(runtime, pod, {
          name: "sleeper",
          image,
          command: ["/bin/sleep", "3600"],
        }).then(() => undefined, (e: { code: number; details: string }) => e);
        assert.ok(err, "crun ran a container on this machine; check whether its cgroups changed");
        assert.match(err.details, /crun create .* failed: .*hybrid/i);
        assert.deepEqual((await call(runtime, "ListContainers", {})).containers, []);
        assert.deepEqual(await listDir(crunRoot), []);
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
      },
    );

    await t.step("crun on hybrid cgroups fails with its reason and leaves nothing", async () => {
      const config = withInfra(testPodConfig("pod-crun", {
        namespace: "handlers",
        cgroupParent: CGROUP_PARENT,
      }));
      const err = await call(runtime, "RunPodSandbox", { config, runtime_handler: "crun" }, {
        deadlineMs: 60_000,
      }).then(() => undefined, (e: { code: number; details: string }) => e);
      assert.ok(err, "crun ran a pod on this machine; check whether its cgroups changed");
      assert.match(err.details, /crun create .* failed: .*hybrid/i);
      console.log(`crun's failure as the kubelet sees it: ${err.details}`);
      const pods = await call(runtime, "ListPodSandbox", {});
      assert.deepEqual(pods.items, []);
      assert.deepEqual(await listDir(join(dirs.root, "sandboxes")), []);
      assert.deepEqual(await listDir(join(dirs.runroot, "sandboxes")), []);
      assert.deepEqual(await listDir(join(dirs.runroot, "netns")), []);
      assert.deepEqual(await listDir(crunRoot), []);
      assert.deepEqual(await allocatedIps(dirs.cniDataDir), []);
      assert.equal(await grpcCode(call(runtime, "Version", { version: "v1" })), 0);
    });
  } finally {
    await daemon.cleanup();
    await removeCgroupParent(CGROUP_PARENT);
  }
});
