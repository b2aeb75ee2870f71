/**
 * OCI hooks from `hooks_dir` (containers-oci-hooks(5)) against the real daemon and runc: a
 * container whose command or annotations match a hook file gets its hook at the stages the file
 * names (prestart, createRuntime, poststop), one that matches nothing gets none, a file of the
 * older 0.1.0 schema is read too, and a file added while the daemon runs applies to the next
 * container. Root only. Network: bridge
 * "ocidt52", 10.234.52.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import { waitFor } from "../helpers/checks.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  testPodConfig,
} from "../helpers/test_pod.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt52";
const SUBNET = "10.234.52.0/24";
const CGROUP_PARENT = "/ocid-it52";

/** A hook file whose hook appends the container's state (stdin) and a line to `log`. */
function hookFile(log: string, when: Record<string, unknown>, stages: string[]): string {
  return JSON.stringify({
    version: "1.0.0",
    hook: { path: "/bin/sh", args: ["sh", "-c", `cat >> ${log}; echo >> ${log}`], timeout: 10 },
    when,
    stages,
  });
}

/** The container ids in a hook log (each line a state JSON), or [] before it exists. */
async function idsIn(log: string): Promise<string[]> {
  const text = await Deno.readTextFile(log).catch(() => "");
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l).id as string);
}

Deno.test({
  name: "OCI hooks of hooks_dir run for the containers they match, at their stages",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const hooks = await Deno.makeTempDir({ prefix: "ocid-it52-hooks-" });
    const logs = await Deno.makeTempDir({ prefix: "ocid-it52-logs-" });
    const log = (name: string) => join(logs, `${name}.log`);
    await Deno.writeTextFile(
      join(hooks, "10-sleepers.json"),
      hookFile(log("prestart"), { commands: ["/sleep$"] }, ["prestart", "poststop"]),
    );
    await Deno.writeTextFile(
      join(hooks, "20-annotated.json"),
      hookFile(log("create-runtime"), { annotations: { "^example\\.com/hook$": "^yes$" } }, [
        "createRuntime",
      ]),
    );
    // The older 0.1.0 schema: any annotation whose value is "legacy".
    await Deno.writeTextFile(
      join(hooks, "40-old.json"),
      JSON.stringify({
        hook: "/bin/sh",
        arguments: ["-c", `cat >> ${log("old")}; echo >> ${log("old")}`],
        stage: ["prestart"],
        annotation: ["^legacy$"],
      }),
    );
    const { daemon, image } = await startDaemonWithBusybox(registry.host, {
      repo: "it52/busybox",
      bridge: BRIDGE,
      subnet: SUBNET,
      config: `hooks_dir = ["/nonexistent/hooks.d", "${hooks}"]\n`,
    });
    try {
      const { runtime } = daemon.clients;
      const pod = await runTestPod(
        runtime,
        testPodConfig("hooked", { namespace: "it52", cgroupParent: CGROUP_PARENT }),
      );
      const run = async (name: string, command: string[], annotations = {}) => {
        const id = await createTestContainer(runtime, pod, {
          name,
          image,
          command,
          config: { annotations },
        });
        await call(runtime, "StartContainer", { container_id: id });
        return id;
      };

      await t.step("a matching container gets the hooks of its stages", async () => {
        const both = await run("both", ["/bin/sleep", "3600"], { "example.com/hook": "yes" });
        const none = await run("none", ["/bin/sh", "-c", "exec sleep 3600"], {
          "example.com/hook": "no",
        });
        const legacy = await run("legacy", ["/bin/sh", "-c", "exec sleep 3600"], {
          "example.com/old": "legacy",
        });
        assert.deepEqual(await idsIn(log("prestart")), [both]);
        assert.deepEqual(await idsIn(log("create-runtime")), [both]);
        assert.deepEqual(await idsIn(log("old")), [legacy]);
        // poststop: when the container is deleted after its exit.
        for (const id of [both, none, legacy]) {
          await call(runtime, "StopContainer", { container_id: id, timeout: "0" });
          await call(runtime, "RemoveContainer", { container_id: id });
        }
        assert.deepEqual(await idsIn(log("prestart")), [both, both]);
      });

      await t.step("a hook file added while the daemon runs applies to the next one", async () => {
        await Deno.writeTextFile(
          join(hooks, "30-always.json"),
          hookFile(log("always"), { always: true }, ["createContainer"]),
        );
        const id = await run("later", ["/bin/sh", "-c", "exec sleep 3600"]);
        await waitFor("the createContainer hook's log", async () => {
          return (await idsIn(log("always"))).length > 0 || undefined;
        });
        assert.deepEqual(await idsIn(log("always")), [id]);
      });

      await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
      await Deno.remove(hooks, { recursive: true });
      await Deno.remove(logs, { recursive: true });
    }
  },
});
