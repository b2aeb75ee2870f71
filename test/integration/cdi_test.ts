/**
 * CDI devices (Container Device Interface) against the real daemon, runc and the host's
 * /dev/null: spec files in two dirs (`cdi_spec_dirs`, one YAML, one JSON) define a device node,
 * environment, supplementary groups, a poststart hook and a mount; a container asks for them
 * through CRI `CDI_devices` and a `cdi.k8s.io/` annotation and gets them, within its device
 * cgroup. A container that asks for none gets none of them. A CRI `devices` entry (a device
 * plugin's) that is a directory gives every node under it. Bad requests change nothing.
 * Root only. Network: bridge "ocidt50", 10.234.50.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { grpcCode, listDir, pushBusybox } from "../helpers/checks.ts";
import { mountsUnder, startDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  execBusybox,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt50";
const SUBNET = "10.234.50.0/24";
const CGROUP_PARENT = "/ocid-it50";
const SLOW = { deadlineMs: 60_000 };

Deno.test({
  name: "CDI: a container gets the device nodes, env, groups, hooks and mounts it asks for",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const scratch = await Deno.makeTempDir({ prefix: "ocid-it50-" });
    const [etc, run, data] = [
      join(scratch, "etc-cdi"),
      join(scratch, "run-cdi"),
      join(scratch, "data"),
    ];
    for (const dir of [etc, run, data]) await Deno.mkdir(dir);
    await Deno.writeTextFile(join(data, "file"), "from the host");
    const hookOut = join(scratch, "hook-state.json");
    // YAML, as the NVIDIA toolkit writes it; the spec's own edits go with any of its devices.
    await Deno.writeTextFile(
      join(etc, "ocid-test.yaml"),
      `cdiVersion: "0.7.0"
kind: ocid.test/dev
containerEdits:
  env: ["OCID_CDI_SPEC=yaml"]
  additionalGids: [4242]
devices:
  - name: "null"
    containerEdits:
      env: ["OCID_NULL=1"]
      deviceNodes:
        - path: /dev/ocid-null
          hostPath: /dev/null
          permissions: rw
  - name: hooked
    containerEdits:
      hooks:
        - hookName: poststart
          path: /bin/sh
          args: ["sh", "-c", "cat > ${hookOut}"]
  - name: gone
    containerEdits:
      deviceNodes:
        - path: /dev/ocid-gone
          hostPath: /dev/ocid-no-such-device
`,
    );
    // A later dir: the same device name here wins over the one in the earlier dir.
    const volume = (source: string) => ({
      cdiVersion: "0.6.0",
      kind: "ocid.test/vol",
      devices: [{
        name: "data",
        containerEdits: {
          mounts: [{ hostPath: source, containerPath: "/cdi-data", options: ["ro", "rbind"] }],
        },
      }],
    });
    await Deno.writeTextFile(join(etc, "vol.json"), JSON.stringify(volume("/nonexistent")));
    await Deno.writeTextFile(join(run, "vol.json"), JSON.stringify(volume(data)));

    await using registry = await startRegistry();
    const busybox = await pushBusybox(registry.host, "it50/busybox");
    const daemon = await startDaemon({
      bridge: BRIDGE,
      subnet: SUBNET,
      config: `cdi_spec_dirs = ["${etc}", "${run}"]\n`,
    });
    try {
      const { runtime, image } = daemon.clients;
      await call(image, "PullImage", { image: { image: busybox } }, SLOW);
      const pod = await runTestPod(
        runtime,
        testPodConfig("cdi", { namespace: "it50", cgroupParent: CGROUP_PARENT }),
      );
      const containersDir = `${daemon.dirs.root}/containers`;
      const withDevices = (name: string, config: cri.ContainerConfigInit) =>
        createTestContainer(runtime, pod, {
          name,
          image: busybox,
          command: ["/bin/sleep", "3600"],
          config,
        });
      const id = await withDevices("user", {
        CDI_devices: [{ name: "ocid.test/dev=null" }, { name: "ocid.test/dev=hooked" }],
        annotations: { "cdi.k8s.io/ocid-test": "ocid.test/vol=data" },
      });
      await call(runtime, "StartContainer", { container_id: id }, SLOW);

      await t.step("the device node is there and the device cgroup lets it be used", async () => {
        assert.equal(
          await execBusybox(daemon, id, "stat", "-c", "%t:%T %F", "/dev/ocid-null"),
          "1:3 character special file",
        );
        assert.equal(
          await execBusybox(daemon, id, "sh", "-c", "echo x > /dev/ocid-null && echo written"),
          "written",
        );
      });

      await t.step("env of the spec and of the device, and the spec's group", async () => {
        const env = (await execBusybox(daemon, id, "env")).split("\n");
        assert.ok(env.includes("OCID_CDI_SPEC=yaml"), env.join(" "));
        assert.ok(env.includes("OCID_NULL=1"), env.join(" "));
        assert.ok((await execBusybox(daemon, id, "id", "-G")).split(" ").includes("4242"));
      });

      await t.step("the later dir's mount, read-only", async () => {
        assert.equal(await execBusybox(daemon, id, "cat", "/cdi-data/file"), "from the host");
        const res = await call(runtime, "ExecSync", {
          container_id: id,
          cmd: ["/bin/busybox", "sh", "-c", "echo x > /cdi-data/new"],
          timeout: 10,
        }, SLOW);
        assert.notEqual(res.exit_code, 0, "the mount is read-only");
      });

      await t.step("the poststart hook ran on the host with the container's state", async () => {
        const state = JSON.parse(await Deno.readTextFile(hookOut));
        assert.equal(state.id, id);
      });

      await t.step("a container that asks for no device gets none of it", async () => {
        const plain = await withDevices("plain", {});
        await call(runtime, "StartContainer", { container_id: plain }, SLOW);
        const res = await call(runtime, "ExecSync", {
          container_id: plain,
          cmd: ["/bin/busybox", "sh", "-c", "ls /dev/ocid-null || env | grep OCID_ || echo none"],
          timeout: 10,
        }, SLOW);
        assert.equal(new TextDecoder().decode(res.stdout).trim(), "none");
      });

      await t.step("a CRI device that is a directory gives every node under it", async () => {
        // As a device plugin may name /dev/snd: containerd's CRI plugin and CRI-O walk it.
        const dir = join(scratch, "snd");
        await Deno.mkdir(join(dir, "by-path"), { recursive: true });
        for (const [path, minor] of [["controlC0", "3"], ["by-path/pcm", "5"]] as const) {
          const made = await new Deno.Command("mknod", {
            args: ["-m", "0666", join(dir, path), "c", "1", minor],
          }).output();
          assert.ok(made.success, new TextDecoder().decode(made.stderr));
        }
        const plugged = await withDevices("plugged", {
          devices: [{ host_path: dir, container_path: "/dev/xsnd", permissions: "rw" }],
        });
        await call(runtime, "StartContainer", { container_id: plugged }, SLOW);
        assert.equal(
          await execBusybox(
            daemon,
            plugged,
            "stat",
            "-c",
            "%n %t:%T",
            "/dev/xsnd/controlC0",
            "/dev/xsnd/by-path/pcm",
          ),
          "/dev/xsnd/controlC0 1:3\n/dev/xsnd/by-path/pcm 1:5",
        );
        // Both are in the device cgroup: writable (null and zero take writes).
        assert.equal(
          await execBusybox(
            daemon,
            plugged,
            "sh",
            "-c",
            "echo x > /dev/xsnd/controlC0 && echo x > /dev/xsnd/by-path/pcm && echo written",
          ),
          "written",
        );
        await call(runtime, "StopContainer", { container_id: plugged, timeout: 0 }, SLOW);
        await call(runtime, "RemoveContainer", { container_id: plugged }, SLOW);
      });

      await t.step("bad requests are refused with their code and leave nothing", async () => {
        const before = await listDir(containersDir);
        const mountsBefore = await mountsUnder(containersDir);
        const cases: Array<[string, cri.ContainerConfigInit, number]> = [
          [
            "a name that is not qualified",
            { CDI_devices: [{ name: "gpu0" }] },
            grpc.status.INVALID_ARGUMENT,
          ],
          [
            "a bad name in an annotation",
            { annotations: { "cdi.k8s.io/x": "ocid.test/dev=null,nope" } },
            grpc.status.INVALID_ARGUMENT,
          ],
          [
            "a device no spec defines",
            { CDI_devices: [{ name: "ocid.test/dev=absent" }] },
            grpc.status.NOT_FOUND,
          ],
          [
            "a kind no spec defines",
            { CDI_devices: [{ name: "other.test/x=y" }] },
            grpc.status.NOT_FOUND,
          ],
          [
            "a device node missing on the host",
            { CDI_devices: [{ name: "ocid.test/dev=null" }, { name: "ocid.test/dev=gone" }] },
            grpc.status.FAILED_PRECONDITION,
          ],
        ];
        for (const [what, config, code] of cases) {
          assert.equal(await grpcCode(withDevices("bad", config)), code, what);
          assert.deepEqual(await listDir(containersDir), before, `${what}: a container dir stayed`);
          assert.deepEqual(
            await mountsUnder(containersDir),
            mountsBefore,
            `${what}: a mount stayed`,
          );
        }
        const listed = await call(runtime, "ListContainers", {});
        assert.equal(listed.containers.length, 2);
      });

      await t.step("a spec file written after start is read at the next create", async () => {
        await Deno.writeTextFile(
          join(run, "late.json"),
          JSON.stringify({
            cdiVersion: "0.8.0",
            kind: "ocid.test/late",
            devices: [{ name: "a", containerEdits: { env: ["LATE=1"] } }],
          }),
        );
        const late = await withDevices("late", { CDI_devices: [{ name: "ocid.test/late=a" }] });
        await call(runtime, "StartContainer", { container_id: late }, SLOW);
        assert.equal(await execBusybox(daemon, late, "sh", "-c", "echo $LATE"), "1");
      });

      await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, SLOW);
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, SLOW);
      assert.deepEqual(await listDir(containersDir), []);
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
