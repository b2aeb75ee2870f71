/**
 * Annotations a runtime acts on (issue 9, CRI-O's CVE-2024-3154) against the real daemon: a
 * pod's and a container's `org.systemd.property.*`, `run.oci.*` and ocid-namespace keys stay
 * out of their `config.json` unless `[runtime] allowed_annotations` names them, harmless keys
 * go in, and the CRI still returns every annotation as it was sent. Root only. Network:
 * bridge "ocidt35", 10.234.35.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import { pushBusybox } from "../helpers/checks.ts";
import { makeTestDirs, startDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt35";
const SUBNET = "10.234.35.0/24";
const CGROUP_PARENT = "/ocid-it35";

/** What the pod and the container both ask for. */
const SENT: Record<string, string> = {
  // runc's systemd driver would make these unit properties.
  "org.systemd.property.CPUQuota": "1%",
  // Named by the daemon's allow list below.
  "org.systemd.property.CPUWeight": "100",
  // crun acts on these.
  "run.oci.keep_original_groups": "1",
  // ocid reads it back as the container's stop signal.
  "io.ocid.stop-signal": "SIGUSR1",
  // ocid writes it; kata and NRI plugins trust it.
  "io.kubernetes.cri.container-type": "sandbox",
  "example.com/harmless": "yes",
};
const DROPPED = [
  "org.systemd.property.CPUQuota",
  "run.oci.keep_original_groups",
  "io.ocid.stop-signal",
  "io.kubernetes.cri.container-type",
];

/** The annotations of a bundle's config.json. */
async function bundleAnnotations(bundle: string): Promise<Record<string, string>> {
  const spec = JSON.parse(await Deno.readTextFile(join(bundle, "config.json")));
  return spec.annotations ?? {};
}

Deno.test({
  name: "Annotations a runtime or ocid acts on stay out of config.json unless allowed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it35/busybox");
    const dirs = await makeTestDirs({ bridge: BRIDGE, subnet: SUBNET });
    await Deno.mkdir(join(dirs.base, "ocid.conf.d"));
    await Deno.writeTextFile(
      join(dirs.base, "ocid.conf.d", "50-annotations.conf"),
      `[runtime]\nallowed_annotations = ["org.systemd.property.CPUWeight"]\n`,
    );
    const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET, dirs });
    try {
      const { runtime } = daemon.clients;
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const config = {
        ...testPodConfig("annotated", { namespace: "it35", cgroupParent: CGROUP_PARENT }),
        annotations: SENT,
      };
      // A PID-sharing pod keeps its infra container, whose config.json carries the pod's
      // annotations (a pod without one has no config.json of its own).
      config.linux!.security_context!.namespace_options!.pid = "POD";
      const pod = await runTestPod(runtime, config);
      const id = await createTestContainer(runtime, pod, {
        name: "annotated",
        image,
        command: ["/bin/sleep", "3600"],
        config: { annotations: SENT },
      });

      const checkBundle = (got: Record<string, string>) => {
        for (const key of DROPPED) {
          if (key === "io.kubernetes.cri.container-type") continue; // ocid sets its own value
          assert.equal(got[key], undefined, `${key} reached config.json`);
        }
        assert.equal(got["example.com/harmless"], "yes");
        assert.equal(got["org.systemd.property.CPUWeight"], "100", "the allowed key got in");
      };

      await t.step("the pod's config.json", async () => {
        const info = JSON.parse(
          (await call(runtime, "PodSandboxStatus", { pod_sandbox_id: pod.id, verbose: true }))
            .info.info!,
        );
        const got = await bundleAnnotations(info.bundle);
        checkBundle(got);
        assert.equal(got["io.kubernetes.cri.container-type"], "sandbox");
      });

      await t.step("the container's config.json", async () => {
        const info = JSON.parse(
          (await call(runtime, "ContainerStatus", { container_id: id, verbose: true })).info
            .info!,
        );
        const got = await bundleAnnotations(info.bundle);
        checkBundle(got);
        assert.equal(got["io.kubernetes.cri.container-type"], "container", "not the forged one");
      });

      await t.step("the CRI returns the annotations as they were sent", async () => {
        const status = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: pod.id });
        assert.deepEqual(status.status!.annotations, SENT);
        const listed = await call(runtime, "ListPodSandbox", { filter: { id: pod.id } });
        assert.deepEqual(listed.items[0]!.annotations, SENT);
        const cst = await call(runtime, "ContainerStatus", { container_id: id });
        assert.deepEqual(cst.status!.annotations, SENT);
        const clist = await call(runtime, "ListContainers", { filter: { id } });
        assert.deepEqual(clist.containers[0]!.annotations, SENT);
      });

      await t.step("the daemon logs what it dropped", () => {
        const lines = daemon.output().split("\n").filter((l) => /Dropped .*annotations/.test(l));
        assert.equal(lines.length, 2, lines.join("\n"));
        for (const line of lines) {
          for (const key of DROPPED) assert.ok(line.includes(key), `${key} not in ${line}`);
        }
      });

      await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
