/**
 * A sandbox whose infra rootfs comes from a pause image in a registry (`--pause-image`) instead
 * of the local pause binary. Root only. Network: bridge "ocidt14", 10.234.14.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import { alive, listDir } from "../helpers/checks.ts";
import { isDaemonDirMount, mountsUnder, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import {
  buildImage,
  buildLayer,
  busyboxEntries,
  imageBlobs,
  skopeoPush,
  writeOciLayout,
} from "../helpers/images.ts";
import { startRegistry } from "../helpers/registry.ts";

Deno.test({
  name: "RunPodSandbox runs the infra from a pause image pulled from the registry",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using registry = await startRegistry();
    const layout = await Deno.makeTempDir({ prefix: "ocid-it14-layout-" });
    let daemon: TestDaemon | undefined;
    try {
      const image = buildImage([await buildLayer(await busyboxEntries())], {
        cmd: ["/bin/sleep", "100000"],
      });
      await writeOciLayout(layout, { top: image.manifest, blobs: imageBlobs(image), tag: "1" });
      const ref = `${registry.host}/it14/pause:1`;
      await skopeoPush(layout, { tag: "1", dest: ref });
      daemon = await startDaemon({
        bridge: "ocidt14",
        subnet: "10.234.14.0/24",
        flags: ["--pause-image", ref],
      });
      const { runtime, image: images } = daemon.clients;
      const { pod_sandbox_id: id } = await call(runtime, "RunPodSandbox", {
        config: { metadata: { name: "pi", namespace: "it", uid: "uid-pi", attempt: 0 } },
      }, { deadlineMs: 60_000 });
      const st = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: id, verbose: true });
      assert.equal(st.status!.state, "SANDBOX_READY");
      const info = JSON.parse(st.info.info!);
      assert.ok(alive(info.pid), "infra process runs");
      const cmdline = await Deno.readTextFile(`/proc/${info.pid}/cmdline`);
      assert.equal(cmdline.split("\0")[0], "/bin/sleep");
      const spec = JSON.parse(await Deno.readTextFile(join(info.bundle, "config.json")));
      assert.match(spec.root.path, /containers\/[0-9a-f]{64}\/merged$/);
      assert.equal(spec.root.readonly, true);
      const listed = await call(images, "ListImages", {});
      assert.ok(listed.images.some((i) => i.repo_tags.includes(ref)), "pause image is stored");

      // The running infra container's rootfs is an overlay of the image's layers.
      const inUse = /Cannot remove image .*: a (container|pod) uses it/;
      await assert.rejects(
        call(images, "RemoveImage", { image: { image: ref } }),
        (err: { code: number; details: string }) => err.code === 9 && inUse.test(err.details),
        "RemoveImage of the pause image an infra container runs from: FAILED_PRECONDITION",
      );
      // So after a restart, when nothing was mounted by this daemon.
      await daemon.stop();
      daemon = await startDaemon({
        bridge: "ocidt14",
        subnet: "10.234.14.0/24",
        flags: ["--pause-image", ref],
        dirs: daemon.dirs,
      });
      await assert.rejects(
        call(daemon.clients.image, "RemoveImage", { image: { image: ref } }),
        (err: { code: number; details: string }) => err.code === 9 && inUse.test(err.details),
        "the same after a restart",
      );
      assert.ok(alive(info.pid), "the infra process still runs");

      await call(daemon.clients.runtime, "StopPodSandbox", { pod_sandbox_id: id });
      await call(daemon.clients.runtime, "RemovePodSandbox", { pod_sandbox_id: id });
      assert.deepEqual(
        (await mountsUnder(daemon.dirs.base)).filter((p) => !isDaemonDirMount(p)),
        [],
        "no rootfs or shm mount left",
      );
      assert.deepEqual(
        await listDir(join(daemon.dirs.root, "containers")),
        [],
        "the sandbox's rootfs dir is gone",
      );
    } finally {
      await daemon?.cleanup();
      await Deno.remove(layout, { recursive: true }).catch(() => {});
    }
  },
});
