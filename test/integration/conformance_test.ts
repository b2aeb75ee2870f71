/**
 * CRI conformance against the real daemon: what critest (kubernetes-sigs/cri-tools
 * `pkg/validate`) and a kubelet expect of each implemented RPC, beyond the happy path the other
 * suites cover: idempotent stop/remove of unknown IDs, NOT_FOUND for status of unknown IDs, list
 * filters that combine, image names when kubelet creates a container by image ID, error codes
 * for exec in a stopped container and create in a stopped pod, ImageStatus/RemoveImage of an
 * unknown image, ImageFsInfo, Version, Status and RuntimeConfig.
 * Root only. Network: bridge "ocidt17", 10.234.17.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { grpcCode, listDir, pushBusybox, waitFor } from "../helpers/checks.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt17";
const SUBNET = "10.234.17.0/24";
const CGROUP_PARENT = "/ocid-it17";
const WAIT = { timeoutMs: 20_000 };
const UNKNOWN_ID = "0123456789abcdef".repeat(4);
/** critest's fake image ID for "RemoveImage should not return an error if not found". */
const FAKE_IMAGE_ID = "0".repeat(64);

function podConfig(name: string): cri.PodSandboxConfigInit {
  return {
    metadata: { name, namespace: "it17", uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    log_directory: "",
    labels: { suite: "conformance", pod: name },
    linux: {
      cgroup_parent: CGROUP_PARENT,
      security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
    },
  };
}

Deno.test({
  name: "CRI conformance: each RPC answers as critest and the kubelet expect",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const hostDir = await Deno.makeTempDir({ prefix: "ocid-it17-host-" });
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it17/busybox");
      daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
      const rt = daemon.clients.runtime;
      const img = daemon.clients.image;
      const long = { deadlineMs: 60_000 };

      await t.step(
        "Version: CRI Version API 0.1.0, runtime API v1, a name and version",
        async () => {
          const v = await call(rt, "Version", { version: "0.1.0" });
          assert.equal(v.version, "0.1.0");
          assert.equal(v.runtime_name, "ocid");
          assert.ok(v.runtime_version.length > 0);
          assert.equal(v.runtime_api_version, "v1");
        },
      );

      await t.step("Status: RuntimeReady and NetworkReady are true", async () => {
        const s = await call(rt, "Status", { verbose: false });
        const cond = (type: string) => s.status!.conditions.find((c) => c.type === type);
        assert.equal(cond("RuntimeReady")?.status, true);
        assert.equal(cond("NetworkReady")?.status, true);
        assert.deepEqual(s.info, {}, "info only when verbose");
      });

      await t.step("RuntimeConfig: a cgroup driver", async () => {
        const r = await call(rt, "RuntimeConfig", {});
        assert.ok(["CGROUPFS", "SYSTEMD"].includes(r.linux!.cgroup_driver), r.linux!.cgroup_driver);
      });

      let imageId = "";
      await t.step(
        "PullImage returns the image ID; ImageStatus by ID/tag/digest agree",
        async () => {
          const pulled = await call(img, "PullImage", { image: { image } }, long);
          imageId = pulled.image_ref;
          assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
          const byTag = (await call(img, "ImageStatus", { image: { image } })).image!;
          assert.equal(byTag.id, imageId, "critest compares PullImage's answer with Image.id");
          assert.deepEqual(byTag.repo_tags, [image]);
          const byId = (await call(img, "ImageStatus", { image: { image: imageId } })).image!;
          assert.deepEqual(byId, byTag);
          for (const digest of byTag.repo_digests) {
            assert.deepEqual(
              (await call(img, "ImageStatus", { image: { image: digest } })).image,
              byTag,
            );
          }
        },
      );

      await t.step("ImageStatus of an unknown image: no error, no image", async () => {
        const r = await call(img, "ImageStatus", {
          image: { image: `${registry.host}/no/such:1` },
        });
        assert.ok(!r.image, "image unset");
      });

      await t.step("RemoveImage of an unknown image succeeds, twice", async () => {
        await call(img, "RemoveImage", { image: { image: FAKE_IMAGE_ID } });
        await call(img, "RemoveImage", { image: { image: FAKE_IMAGE_ID } });
      });

      await t.step("ImageFsInfo: timestamps, existing mountpoints, bytes and inodes", async () => {
        const r = await call(img, "ImageFsInfo", {});
        assert.equal(r.image_filesystems.length, 1);
        for (const fs of [...r.image_filesystems, ...r.container_filesystems]) {
          assert.ok(BigInt(fs.timestamp) > 0n, "timestamp set");
          const mp = fs.fs_id!.mountpoint;
          assert.ok(mp.startsWith("/"), mp);
          assert.ok((await Deno.stat(mp)).isDirectory, `${mp} exists`);
        }
        const fs = r.image_filesystems[0]!;
        assert.ok(BigInt(fs.used_bytes!.value) > 0n, "the pulled image uses bytes");
        assert.ok(BigInt(fs.inodes_used!.value) > 0n, "and inodes");
      });

      await t.step("unknown IDs: status is NOT_FOUND; stop and remove succeed", async () => {
        const nf = grpc.status.NOT_FOUND;
        assert.equal(await grpcCode(call(rt, "ContainerStatus", { container_id: UNKNOWN_ID })), nf);
        assert.equal(
          await grpcCode(call(rt, "PodSandboxStatus", { pod_sandbox_id: UNKNOWN_ID })),
          nf,
        );
        await call(rt, "StopContainer", { container_id: UNKNOWN_ID, timeout: 0 });
        await call(rt, "RemoveContainer", { container_id: UNKNOWN_ID });
        await call(rt, "StopPodSandbox", { pod_sandbox_id: UNKNOWN_ID });
        await call(rt, "RemovePodSandbox", { pod_sandbox_id: UNKNOWN_ID });
      });

      const pc = podConfig("conf");
      const podId = (await call(rt, "RunPodSandbox", { config: pc }, long)).pod_sandbox_id;
      const other = (await call(rt, "RunPodSandbox", { config: podConfig("other") }, long))
        .pod_sandbox_id;

      await t.step("PodSandboxStatus: READY, IP, its (no) containers and a timestamp", async () => {
        const r = await call(rt, "PodSandboxStatus", { pod_sandbox_id: podId });
        assert.equal(r.status!.state, "SANDBOX_READY");
        assert.match(r.status!.network!.ip, /^10\.234\.17\./);
        assert.deepEqual(r.info, {});
        assert.deepEqual(r.containers_statuses, [], "no container yet");
        assert.ok(BigInt(r.timestamp) > 0n, "the time the statuses were taken (evented PLEG)");
      });

      const volume = join(hostDir, "vol");
      await Deno.mkdir(volume);
      const create = async (name: string, command: string[], labels: Record<string, string>) =>
        (await call(rt, "CreateContainer", {
          pod_sandbox_id: podId,
          sandbox_config: pc,
          config: {
            metadata: { name, attempt: 0 },
            // As kubelet does: the ID PullImage returned, and what the user wrote.
            image: { image: imageId, user_specified_image: image },
            command,
            labels,
            mounts: [{ container_path: "/vol", host_path: volume, readonly: true }],
          },
        }, long)).container_id;

      const sleeper = await create("sleeper", ["/bin/sleep", "3600"], { role: "sleep" });
      const quick = await create("quick", ["/bin/sh", "-c", "exit 7"], { role: "quick" });

      await t.step("ContainerStatus of a created container (image created by ID)", async () => {
        const st = (await call(rt, "ContainerStatus", { container_id: sleeper })).status!;
        assert.equal(st.state, "CONTAINER_CREATED");
        assert.equal(st.started_at, "0");
        assert.equal(st.finished_at, "0");
        assert.equal(st.exit_code, 0);
        assert.equal(st.image!.image, image, "a repo tag, not the ID kubelet sent");
        assert.equal(st.image!.user_specified_image, image);
        assert.equal(st.image_id, imageId);
        assert.match(st.image_ref, /@sha256:[0-9a-f]{64}$/);
        assert.ok(st.log_path.startsWith("/"), `log_path ${st.log_path}`);
        assert.deepEqual(
          st.mounts.map((m) => [m.container_path, m.host_path, m.readonly]),
          [["/vol", volume, true]],
        );
        assert.ok(st.user?.linux, "the user the process runs as");
        assert.equal(st.user!.linux!.uid, "0");
      });

      await call(rt, "StartContainer", { container_id: sleeper });
      await call(rt, "StartContainer", { container_id: quick });
      const quickStatus = await waitFor("quick to exit", async () => {
        const st = (await call(rt, "ContainerStatus", { container_id: quick })).status!;
        return st.state === "CONTAINER_EXITED" ? st : undefined;
      }, WAIT);
      const otherC = (await call(rt, "CreateContainer", {
        pod_sandbox_id: other,
        sandbox_config: podConfig("other"),
        config: {
          metadata: { name: "x", attempt: 0 },
          image: { image },
          command: ["/bin/sleep", "3600"],
          labels: { role: "sleep" },
        },
      }, long)).container_id;

      await t.step("an exited container: exit code, reason, finished after started", () => {
        assert.equal(quickStatus.exit_code, 7);
        assert.equal(quickStatus.reason, "Error");
        assert.notEqual(quickStatus.started_at, "0");
        assert.ok(BigInt(quickStatus.finished_at) >= BigInt(quickStatus.started_at));
      });

      await t.step(
        "ListContainers: filters by id prefix, pod, state, labels, combined",
        async () => {
          const list = async (filter: cri.ContainerFilterInit) =>
            (await call(rt, "ListContainers", { filter })).containers.map((c) => c.id).sort();
          assert.deepEqual(await list({ id: sleeper.slice(0, 12) }), [sleeper]);
          assert.deepEqual(await list({ pod_sandbox_id: podId }), [quick, sleeper].sort());
          assert.deepEqual(
            await list({ pod_sandbox_id: podId.slice(0, 12) }),
            [quick, sleeper].sort(),
          );
          assert.deepEqual(
            await list({ label_selector: { role: "sleep" } }),
            [otherC, sleeper].sort(),
          );
          assert.deepEqual(
            await list({
              label_selector: { role: "sleep" },
              state: { state: "CONTAINER_RUNNING" },
            }),
            [sleeper],
          );
          assert.deepEqual(
            await list({ pod_sandbox_id: other, state: { state: "CONTAINER_CREATED" } }),
            [otherC],
          );
          assert.deepEqual(await list({ id: sleeper, pod_sandbox_id: other }), []);
          const c = (await call(rt, "ListContainers", { filter: { id: sleeper } })).containers[0]!;
          assert.equal(c.image!.image, image);
          assert.equal(c.image_id, imageId);
          assert.equal(c.pod_sandbox_id, podId);
        },
      );

      await t.step("ListPodSandbox: filters by id prefix, state, labels, combined", async () => {
        const list = async (filter: cri.PodSandboxFilterInit) =>
          (await call(rt, "ListPodSandbox", { filter })).items.map((p) => p.id).sort();
        assert.deepEqual(await list({ id: podId.slice(0, 12) }), [podId]);
        assert.deepEqual(
          await list({ label_selector: { suite: "conformance" } }),
          [podId, other].sort(),
        );
        assert.deepEqual(
          await list({ label_selector: { pod: "other" }, state: { state: "SANDBOX_READY" } }),
          [other],
        );
        assert.deepEqual(await list({ id: podId, label_selector: { pod: "other" } }), []);
      });

      await t.step("StopContainer twice; ExecSync in a stopped container fails", async () => {
        await call(rt, "StopContainer", { container_id: sleeper, timeout: 2 }, long);
        await call(rt, "StopContainer", { container_id: sleeper, timeout: 2 }, long);
        const st = (await call(rt, "ContainerStatus", { container_id: sleeper })).status!;
        assert.equal(st.state, "CONTAINER_EXITED");
        assert.notEqual(st.finished_at, "0");
        const code = await grpcCode(
          call(rt, "ExecSync", { container_id: sleeper, cmd: ["/bin/true"], timeout: 5 }),
        );
        assert.equal(code, grpc.status.FAILED_PRECONDITION);
      });

      await t.step("RemoveContainer twice; then it is gone from lists and status", async () => {
        await call(rt, "RemoveContainer", { container_id: quick }, long);
        await call(rt, "RemoveContainer", { container_id: quick }, long);
        const left = (await call(rt, "ListContainers", { filter: { id: quick } })).containers;
        assert.deepEqual(left, []);
        assert.equal(
          await grpcCode(call(rt, "ContainerStatus", { container_id: quick })),
          grpc.status.NOT_FOUND,
        );
      });

      await t.step("a stopped pod: NOTREADY, refuses new containers, stops again", async () => {
        await call(rt, "StopPodSandbox", { pod_sandbox_id: podId }, long);
        const st = (await call(rt, "PodSandboxStatus", { pod_sandbox_id: podId })).status!;
        assert.equal(st.state, "SANDBOX_NOTREADY");
        const code = await grpcCode(create("late", ["/bin/true"], {}));
        assert.equal(code, grpc.status.FAILED_PRECONDITION);
        await call(rt, "StopPodSandbox", { pod_sandbox_id: podId }, long);
      });

      await t.step("RemovePodSandbox twice; its containers go with it", async () => {
        for (const id of [podId, other]) {
          await call(rt, "StopPodSandbox", { pod_sandbox_id: id }, long);
          await call(rt, "RemovePodSandbox", { pod_sandbox_id: id }, long);
          await call(rt, "RemovePodSandbox", { pod_sandbox_id: id }, long);
        }
        assert.deepEqual((await call(rt, "ListPodSandbox", {})).items, []);
        assert.deepEqual((await call(rt, "ListContainers", {})).containers, []);
      });
    } finally {
      await daemon?.cleanup();
      await Deno.remove(hostDir, { recursive: true }).catch(() => {});
      for (const hierarchy of await listDir("/sys/fs/cgroup")) {
        await Deno.remove(join("/sys/fs/cgroup", hierarchy, CGROUP_PARENT)).catch(() => {});
      }
    }
  },
});
