/**
 * Concurrency against the real daemon: 100 concurrent RunPodSandbox, some with duplicate
 * names, give exactly one pod per name and no leaks; a kubelet retrying a RunPodSandbox or a
 * CreateContainer that timed out on its side gets the pod or container that was being created.
 * Root only. Network: bridge
 * "ocidt7", 10.234.7.0/24.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import { startDaemon } from "../helpers/daemon.ts";
import { pushBusybox } from "../helpers/checks.ts";
import { startRegistry } from "../helpers/registry.ts";
import { assertNodeClean, podConfig, removeAllPods, runPod } from "./_node_state.ts";

const BRIDGE = "ocidt7";
const SUBNET = "10.234.7.0/24";
const REQUESTS = 100;
const NAMES = 80;

Deno.test({
  name: "100 concurrent RunPodSandbox with duplicate names give one pod per name, no leaks",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
    try {
      await t.step(`${REQUESTS} requests for ${NAMES} names at once`, async () => {
        const names = Array.from({ length: REQUESTS }, (_, i) => `p${i % NAMES}`);
        const t0 = performance.now();
        const results = await Promise.allSettled(
          names.map((name) => runPod(daemon.clients, podConfig(name, "it7"))),
        );
        console.log(
          `${REQUESTS} concurrent RunPodSandbox: ${(performance.now() - t0).toFixed(0)} ms`,
        );
        const failed = results.filter((r) => r.status === "rejected");
        assert.deepEqual(failed, [], "every request succeeds: duplicates get the pod being made");
        const idOf = new Map<string, Set<string>>();
        for (const [i, r] of results.entries()) {
          const id = (r as PromiseFulfilledResult<string>).value;
          idOf.set(names[i]!, (idOf.get(names[i]!) ?? new Set()).add(id));
        }
        for (const [name, ids] of idOf) assert.equal(ids.size, 1, `one pod for ${name}`);
        const pods = (await call(daemon.clients.runtime, "ListPodSandbox", {})).items;
        assert.equal(pods.length, NAMES);
        assert.equal(new Set(pods.map((p) => p.metadata!.name)).size, NAMES);
        assert.ok(pods.every((p) => p.state === "SANDBOX_READY"));
      });

      await t.step("a READY pod's name still gives ALREADY_EXISTS", async () => {
        const err = await runPod(daemon.clients, podConfig("p0", "it7")).then(
          () => undefined,
          (e) => e as grpc.ServiceError,
        );
        assert.equal(err?.code, grpc.status.ALREADY_EXISTS);
      });

      await t.step("a retry after a client-side timeout gets the pod being created", async () => {
        const config = podConfig("retry", "it7");
        // Well under a pod's creation (CNI alone takes 20 ms or more): the client gives up while
        // the creation is in flight. (30 ms raced a pod without an infra container.)
        const first = await call(daemon.clients.runtime, "RunPodSandbox", { config }, {
          deadlineMs: 8,
        }).then((r) => r.pod_sandbox_id, (e) => e as grpc.ServiceError);
        const retry = await runPod(daemon.clients, config);
        if (typeof first === "string") assert.equal(retry, first);
        else assert.equal(first.code, grpc.status.DEADLINE_EXCEEDED);
        const pods = (await call(daemon.clients.runtime, "ListPodSandbox", {
          filter: { label_selector: {} },
        })).items.filter((p) => p.metadata!.name === "retry");
        assert.deepEqual(pods.map((p) => p.id), [retry], "exactly the retried pod exists");
        const again = await runPod(daemon.clients, config).then(
          () => undefined,
          (e) => e as grpc.ServiceError,
        );
        assert.equal(again?.code, grpc.status.ALREADY_EXISTS, "the kept result is given once");
      });

      await t.step(
        "a CreateContainer retried after a client-side timeout gets one container",
        async () => {
          await using registry = await startRegistry();
          const image = await pushBusybox(registry.host, "it7/busybox");
          await call(daemon.clients.image, "PullImage", { image: { image } }, {
            deadlineMs: 60_000,
          });
          const config = podConfig("ctr-retry", "it7");
          const podId = await runPod(daemon.clients, config);
          const req = {
            pod_sandbox_id: podId,
            sandbox_config: config,
            config: {
              metadata: { name: "app", attempt: 0 },
              image: { image },
              command: ["/bin/sleep", "3600"],
              log_path: "app.log",
            },
          };
          // Well under a container's creation (conmon and runc create: 30 ms or more).
          const first = await call(daemon.clients.runtime, "CreateContainer", req, {
            deadlineMs: 8,
          }).then((r) => r.container_id, (e) => e as grpc.ServiceError);
          const retry = (await call(daemon.clients.runtime, "CreateContainer", req, {
            deadlineMs: 60_000,
          })).container_id;
          if (typeof first === "string") assert.equal(retry, first);
          else assert.equal(first.code, grpc.status.DEADLINE_EXCEEDED);
          const listed = (await call(daemon.clients.runtime, "ListContainers", {
            filter: { pod_sandbox_id: podId },
          })).containers.map((c) => c.id);
          assert.deepEqual(listed, [retry], "exactly the retried container exists");
          const again = await call(daemon.clients.runtime, "CreateContainer", req).then(
            () => undefined,
            (e) => e as grpc.ServiceError,
          );
          assert.equal(again?.code, grpc.status.ALREADY_EXISTS, "the kept result is given once");
        },
      );

      await t.step("removing every pod concurrently leaves the node clean", async () => {
        const pods = (await call(daemon.clients.runtime, "ListPodSandbox", {})).items;
        await Promise.all(pods.map(async (p) => {
          await call(daemon.clients.runtime, "StopPodSandbox", { pod_sandbox_id: p.id }, {
            deadlineMs: 120_000,
          });
          await call(daemon.clients.runtime, "RemovePodSandbox", { pod_sandbox_id: p.id }, {
            deadlineMs: 120_000,
          });
        }));
        await removeAllPods(daemon.clients);
        await assertNodeClean(daemon.dirs, daemon.pid, "after removing all pods");
      });
    } finally {
      await daemon.cleanup();
    }
  },
});
