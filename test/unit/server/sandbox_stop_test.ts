/**
 * StopPodSandbox's network tear-down, with fake network and netns seams: the request carries
 * the pod's port mappings from its stored config, so a DEL without a cached ADD result decides
 * as ADD did (whether `portmap` runs).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { TearDownRequest } from "../../../src/network/mod.ts";
import type { Deps } from "../../../src/server/deps.ts";
import { stopPodSandbox } from "../../../src/server/sandbox_stop.ts";
import { addSandbox, decode, testDeps } from "./_fakes.ts";

Deno.test("stopPodSandbox() tears the network down with the pod's stored port mappings", async () => {
  const deps = await testDeps();
  try {
    const requests: TearDownRequest[] = [];
    deps.network = {
      tearDown: (req: TearDownRequest) => (requests.push(req), Promise.resolve()),
    } as unknown as Deps["network"];
    deps.netns = { remove: () => Promise.resolve() } as unknown as Deps["netns"];
    const ports = await addSandbox(deps, {
      name: "ports",
      infraExited: true,
      portMappings: [{
        protocol: "UDP",
        container_port: 53,
        host_port: 5353,
        host_ip: "127.0.0.1",
      }],
    });
    const idle = await addSandbox(deps, { name: "idle", infraExited: true });
    for (const id of [ports, idle]) {
      await stopPodSandbox(deps, decode("StopPodSandbox", { pod_sandbox_id: id }));
    }
    assert.deepEqual(requests.map((r) => [r.podName, r.portMappings]), [
      ["ports", [{ protocol: "UDP", containerPort: 53, hostPort: 5353, hostIp: "127.0.0.1" }]],
      ["idle", []],
    ]);
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
});
