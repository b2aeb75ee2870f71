/**
 * Image volumes (CRI `Mount.image`, KEP 4639) against the real daemon, registry, runc and
 * overlayfs: a container mounts other images read-only, whole or one path of them
 * (`image_sub_path`), as kubelet asks (the image pulled first, named by PullImage's
 * `image_ref`). Symlinks in the image resolve inside the image. RemoveImage is refused while a
 * container mounts the image; RemoveContainer takes the mounts away. Bad requests change
 * nothing. Root only. Network: bridge "ocidt49", 10.234.49.0/24.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { grpcCode, listDir, pushBusybox } from "../helpers/checks.ts";
import { mountsUnder, startDaemon } from "../helpers/daemon.ts";
import { buildImage, buildLayer, imageBlobs, type TestImage } from "../helpers/images.ts";
import { pushImage } from "../helpers/push.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  execBusybox,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt49";
const SUBNET = "10.234.49.0/24";
const CGROUP_PARENT = "/ocid-it49";
const SLOW = { deadlineMs: 60_000 };

/**
 * Two layers: the upper one deletes a file of the lower one (a whiteout) and adds files and
 * symlinks: `data/link` names `/sub` (the image's), `escape` names `/etc` (the host's has files,
 * the image has none).
 */
async function artifactImage(): Promise<TestImage> {
  const lower = await buildLayer([
    { name: "data/", type: "directory" },
    { name: "data/a.txt", content: "lower a" },
    { name: "data/gone.txt", content: "deleted above" },
    { name: "sub/", type: "directory" },
    { name: "sub/c.txt", content: "in sub" },
  ]);
  const upper = await buildLayer([
    { name: "data/", type: "directory" },
    { name: "data/.wh.gone.txt", content: "" },
    { name: "data/b.txt", content: "upper b" },
    { name: "data/link", type: "symlink", linkname: "/sub" },
    { name: "escape", type: "symlink", linkname: "/etc" },
  ]);
  return buildImage([lower, upper]);
}

async function push(host: string, repo: string, image: TestImage): Promise<string> {
  await pushImage(host, repo, "1", { blobs: imageBlobs(image), manifest: image.manifest });
  return `${host}/${repo}:1`;
}

Deno.test({
  name: "Image volumes: a container mounts other images read-only, whole or a sub path",
  ignore: Deno.uid() !== 0,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const busybox = await pushBusybox(registry.host, "it49/busybox");
    const artifactRef = await push(registry.host, "it49/artifact", await artifactImage());
    const singleRef = await push(
      registry.host,
      "it49/single",
      buildImage([await buildLayer([{ name: "only.txt", content: "one layer" }])]),
    );
    const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
    try {
      const { runtime, image: images } = daemon.clients;
      const pull = async (image: string) =>
        (await call(images, "PullImage", { image: { image } }, SLOW)).image_ref;
      await pull(busybox);
      // kubelet names an image volume by what PullImage answered.
      const artifact = await pull(artifactRef);
      const single = await pull(singleRef);
      const pod = await runTestPod(
        runtime,
        testPodConfig("volumes", { namespace: "it49", cgroupParent: CGROUP_PARENT }),
      );
      const containersDir = `${daemon.dirs.root}/containers`;
      const volumeMount = (
        containerPath: string,
        image: string,
        subPath = "",
      ): cri.MountInit => ({
        container_path: containerPath,
        image: { image },
        image_sub_path: subPath,
        readonly: true,
      });
      const mounts = [
        volumeMount("/vol", artifact),
        volumeMount("/sub", artifact, "data/link"),
        volumeMount("/single", single),
      ];
      const id = await createTestContainer(runtime, pod, {
        name: "reader",
        image: busybox,
        command: ["/bin/sleep", "3600"],
        config: { mounts },
      });
      await call(runtime, "StartContainer", { container_id: id }, SLOW);

      await t.step(
        "the container sees the images' files, with the upper layer's whiteout",
        async () => {
          assert.equal(await execBusybox(daemon, id, "cat", "/vol/data/a.txt"), "lower a");
          assert.equal(await execBusybox(daemon, id, "cat", "/vol/data/b.txt"), "upper b");
          assert.deepEqual(
            (await execBusybox(daemon, id, "ls", "/vol/data")).split(/\s+/).sort(),
            ["a.txt", "b.txt", "link"],
          );
          assert.equal(await execBusybox(daemon, id, "cat", "/single/only.txt"), "one layer");
        },
      );

      await t.step(
        "a sub path through an absolute symlink is the image's, not the host's",
        async () => {
          assert.equal(await execBusybox(daemon, id, "cat", "/sub/c.txt"), "in sub");
          const spec = JSON.parse(
            await Deno.readTextFile(`${containersDir}/${id}/bundle/config.json`),
          );
          const sub = spec.mounts.find((m: { destination: string }) => m.destination === "/sub");
          assert.equal(sub.source, `${containersDir}/${id}/image-volumes/1/sub`);
          assert.ok(sub.options.includes("ro"), JSON.stringify(sub));
        },
      );

      await t.step("the volumes are read-only", async () => {
        for (const path of ["/vol/new", "/vol/data/a.txt", "/single/only.txt"]) {
          const res = await call(runtime, "ExecSync", {
            container_id: id,
            cmd: ["/bin/busybox", "sh", "-c", `echo x > ${path}`],
            timeout: 10,
          }, SLOW);
          assert.notEqual(res.exit_code, 0, `${path} was written`);
          assert.match(new TextDecoder().decode(res.stderr), /Read-only file system/);
        }
      });

      await t.step(
        "ContainerStatus reports the mounts as they were asked for, each volume's image_ref the image mounted",
        async () => {
          const status = (await call(runtime, "ContainerStatus", { container_id: id })).status!;
          assert.deepEqual(
            status.mounts.map((m) => [
              m.container_path,
              m.host_path,
              m.image?.image,
              m.image_sub_path,
              m.image?.image_ref,
            ]),
            [
              ["/vol", "", artifact, "", artifact],
              ["/sub", "", artifact, "data/link", artifact],
              ["/single", "", single, "", single],
            ],
          );
        },
      );

      await t.step("RemoveImage of a mounted image is refused, and changes nothing", async () => {
        assert.equal(
          await grpcCode(call(images, "RemoveImage", { image: { image: single } })),
          grpc.status.FAILED_PRECONDITION,
        );
        assert.ok((await call(images, "ImageStatus", { image: { image: single } })).image);
        assert.equal(await execBusybox(daemon, id, "cat", "/single/only.txt"), "one layer");
      });

      await t.step("bad requests are refused with their code and leave nothing", async () => {
        const before = await listDir(containersDir);
        const cases: Array<[string, cri.MountInit, number]> = [
          [
            "an image not pulled",
            volumeMount("/x", `${registry.host}/it49/absent:1`),
            grpc.status.NOT_FOUND,
          ],
          [
            "both a host path and an image",
            { ...volumeMount("/x", artifact), host_path: "/tmp" },
            grpc.status.INVALID_ARGUMENT,
          ],
          [
            "a sub path that climbs",
            volumeMount("/x", artifact, "../data"),
            grpc.status.INVALID_ARGUMENT,
          ],
          [
            "an absolute sub path",
            volumeMount("/x", artifact, "/data"),
            grpc.status.INVALID_ARGUMENT,
          ],
          // Mounted, then not found in the image: the volume comes off again.
          [
            "a sub path not in the image",
            volumeMount("/x", artifact, "nope"),
            grpc.status.INVALID_ARGUMENT,
          ],
          // The host's /etc has files; the image has no /etc.
          [
            "a symlink to a host path",
            volumeMount("/x", artifact, "escape/hostname"),
            grpc.status.INVALID_ARGUMENT,
          ],
          [
            "a sub path without an image",
            { container_path: "/x", host_path: "/tmp", image_sub_path: "data" },
            grpc.status.INVALID_ARGUMENT,
          ],
        ];
        for (const [what, mount, code] of cases) {
          const made = createTestContainer(runtime, pod, {
            name: "bad",
            image: busybox,
            command: ["/bin/sleep", "3600"],
            config: { mounts: [mount] },
          });
          assert.equal(await grpcCode(made), code, what);
          assert.deepEqual(await listDir(containersDir), before, `${what}: a container dir stayed`);
          assert.deepEqual(
            (await mountsUnder(containersDir)).filter((p) =>
              !p.startsWith(`${containersDir}/${id}/`)
            ),
            [],
            `${what}: a mount stayed`,
          );
        }
        const listed = await call(runtime, "ListContainers", {});
        assert.deepEqual(listed.containers.map((c) => c.id), [id]);
      });

      await t.step("RemoveContainer takes the volumes away; then the image can go", async () => {
        assert.equal((await mountsUnder(`${containersDir}/${id}/image-volumes`)).length, 3);
        await call(runtime, "StopContainer", { container_id: id, timeout: 0 }, SLOW);
        await call(runtime, "RemoveContainer", { container_id: id }, SLOW);
        assert.deepEqual(await mountsUnder(containersDir), []);
        assert.deepEqual(await listDir(containersDir), []);
        await call(images, "RemoveImage", { image: { image: single } });
        assert.equal((await call(images, "ImageStatus", { image: { image: single } })).image, null);
      });

      await t.step("RemovePodSandbox takes a pod's container's volumes away too", async () => {
        const second = await createTestContainer(runtime, pod, {
          name: "second",
          image: busybox,
          command: ["/bin/sleep", "3600"],
          config: { mounts: [volumeMount("/vol", artifact, "data")] },
        });
        await call(runtime, "StartContainer", { container_id: second }, SLOW);
        assert.equal(await execBusybox(daemon, second, "cat", "/vol/b.txt"), "upper b");
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, SLOW);
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, SLOW);
        assert.deepEqual(await mountsUnder(containersDir), []);
        assert.deepEqual(await listDir(containersDir), []);
      });
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
