/**
 * An independent Go CRI client drives ocid over its socket: the real daemon (conmon, runc, CNI
 * bridge, test registry) and only the grpc-go client of `test/go-client` for every CRI call.
 * That client dials the bare socket path through a custom dialer, so it sends the path as the
 * HTTP/2 `:authority` like kubelet, crictl and critest before 1.31. Requests and responses are
 * (de)serialized with ocid's own CRI definition (`test/helpers/cri_codec.ts`).
 *
 * Root only. Network: bridge "ocidt3", 10.234.3.0/24; the registry listens on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { type CriRpcs, loadCri, type UnaryRpcName } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { listDir, pushBusybox, waitFor } from "../helpers/checks.ts";
import { criPath, decodeResponse, encodeRequest } from "../helpers/cri_codec.ts";
import {
  isDaemonDirMount,
  mountsUnder,
  pidsMentioning,
  startDaemon,
  type TestDaemon,
} from "../helpers/daemon.ts";
import { buildGoClient, goInvoke } from "../helpers/go_client.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt3";
const SUBNET = "10.234.3.0/24";

/** A failed call through the Go client, with its gRPC status code. */
class GoCallError extends Error {
  code: number;
  constructor(method: string, code: number, message: string) {
    super(`${method} failed through the Go client: code ${code}: ${message}`);
    this.name = "GoCallError";
    this.code = code;
  }
}

/** Typed CRI calls through the Go client against one socket. */
class GoCri {
  #bin: string;
  #socket: string;

  constructor(bin: string, socket: string) {
    this.#bin = bin;
    this.#socket = socket;
  }

  /**
   * Calls `method` and decodes the response.
   * @throws {GoCallError} When the call ends with a non-OK status.
   */
  async call<M extends UnaryRpcName>(
    method: M,
    request: CriRpcs[M]["requestInit"],
    options: { timeoutMs?: number; count?: number } = {},
  ): Promise<CriRpcs[M]["response"]> {
    const out = await goInvoke(
      this.#bin,
      this.#socket,
      criPath(method),
      encodeRequest(method, request),
      options,
    );
    if (out.code !== grpc.status.OK) throw new GoCallError(method, out.code, out.message);
    return decodeResponse(method, out.response);
  }

  /** The status code of a call (0 when it succeeds). */
  async code<M extends UnaryRpcName>(
    method: M,
    request: CriRpcs[M]["requestInit"],
  ): Promise<number> {
    try {
      await this.call(method, request, { timeoutMs: 60_000 });
      return grpc.status.OK;
    } catch (err) {
      if (err instanceof GoCallError) return err.code;
      throw err;
    }
  }
}

function podConfig(name: string): cri.PodSandboxConfigInit {
  return {
    metadata: { name, namespace: "it3", uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    log_directory: "",
    labels: { app: name, suite: "go" },
    annotations: { "example.com/client": "grpc-go" },
    port_mappings: [{ protocol: "TCP", container_port: 80, host_port: 0 }],
    linux: {
      cgroup_parent: "/ocid-it3",
      security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
    },
  };
}

/**
 * Serves Version on a plain grpc-js unix listener (no `:authority` rewriting) and returns the
 * status the Go client gets from it.
 */
async function goCodeAgainstPlainGrpcJs(bin: string, dir: string): Promise<GoCallError | null> {
  const server = new grpc.Server();
  server.addService(loadCri().runtimeService, {
    Version(_call: unknown, callback: grpc.sendUnaryData<unknown>) {
      callback(null, { version: "0.1.0", runtime_name: "plain", runtime_api_version: "v1" });
    },
  });
  const socket = join(dir, "plain.sock");
  try {
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(
        `unix:${socket}`,
        grpc.ServerCredentials.createInsecure(),
        (error) => (error ? reject(error) : resolve()),
      )
    );
    await new GoCri(bin, socket).call("Version", { version: "v1" });
    return null;
  } catch (err) {
    if (err instanceof GoCallError) return err;
    throw err;
  } finally {
    server.forceShutdown();
    await Deno.remove(socket).catch(() => {});
  }
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test({
  name: "A Go gRPC client sending the socket path as :authority drives pods, images, containers",
  // grpc-js keeps internal timers (keepalive, backoff) past a call's end.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const goBin = buildGoClient(); // compiles while the registry and the daemon start
    goBin.catch(() => {}); // awaited (and reported) below
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    try {
      const [pushed, started] = await Promise.allSettled([
        pushBusybox(registry.host, "it3/busybox"),
        startDaemon({ bridge: BRIDGE, subnet: SUBNET }),
      ]);
      if (started.status === "fulfilled") daemon = started.value;
      else throw started.reason;
      if (pushed.status === "rejected") throw pushed.reason;
      const image = pushed.value;
      const { dirs } = daemon;
      const bin = await goBin;
      const go = new GoCri(bin, dirs.socket);

      await t.step("Version, Status and RuntimeConfig", async () => {
        // Three calls on one connection: the later ones send :authority from the HPACK table.
        const v = await go.call("Version", { version: "v1" }, { count: 3 });
        assert.equal(v.runtime_name, "ocid");
        assert.equal(v.runtime_api_version, "v1");
        assert.ok(v.runtime_version, "a runtime version");
        const s = await go.call("Status", { verbose: false });
        const conds = Object.fromEntries(s.status!.conditions.map((c) => [c.type, c.status]));
        assert.deepEqual(conds, { RuntimeReady: true, NetworkReady: true });
        const rc = await go.call("RuntimeConfig", {});
        assert.equal(rc.linux?.cgroup_driver, "CGROUPFS");
      });

      await t.step("the same client fails against a plain grpc-js unix listener", async () => {
        // The point of the exercise; listener_test.ts shows the details (GOAWAY PROTOCOL_ERROR).
        const err = await goCodeAgainstPlainGrpcJs(bin, dirs.base);
        assert.equal(err?.code, grpc.status.UNAVAILABLE, String(err));
      });

      let web = "";
      await t.step("RunPodSandbox: the pod is READY with an IP in the test subnet", async () => {
        web = (await go.call("RunPodSandbox", { config: podConfig("web") }, { timeoutMs: 60_000 }))
          .pod_sandbox_id;
        assert.match(web, /^[0-9a-f]{64}$/);
        const st = await go.call("PodSandboxStatus", {
          pod_sandbox_id: web.slice(0, 12),
          verbose: true,
        });
        assert.equal(st.status!.id, web);
        assert.equal(st.status!.state, "SANDBOX_READY");
        assert.match(st.status!.network!.ip, /^10\.234\.3\.\d+$/);
        assert.equal(st.status!.metadata!.name, "web");
        assert.equal(st.status!.labels.app, "web");
        assert.equal(st.status!.annotations["example.com/client"], "grpc-go");
        assert.notEqual(st.status!.created_at, "0");
        // A pod with its own PID per container runs without an infra process (drop_infra_ctr).
        const info = JSON.parse(st.info.info!);
        assert.equal(info.holder, "pinned", "verbose info names how the pod holds its namespaces");
        assert.ok(info.ipcPath && info.utsPath, "and its pinned namespaces");
      });

      await t.step("ListPodSandbox filters by ID prefix, state and labels", async () => {
        const db = (await go.call("RunPodSandbox", { config: podConfig("db") }, {
          timeoutMs: 60_000,
        })).pod_sandbox_id;
        const all = await go.call("ListPodSandbox", {});
        assert.deepEqual(all.items.map((i) => i.id).sort(), [web, db].sort());
        const byPrefix = await go.call("ListPodSandbox", { filter: { id: db.slice(0, 10) } });
        assert.deepEqual(byPrefix.items.map((i) => i.id), [db]);
        const byLabel = await go.call("ListPodSandbox", {
          filter: { label_selector: { app: "web", suite: "go" } },
        });
        assert.deepEqual(byLabel.items.map((i) => i.id), [web]);
        await go.call("StopPodSandbox", { pod_sandbox_id: db });
        const notReady = await go.call("ListPodSandbox", {
          filter: { state: { state: "SANDBOX_NOTREADY" } },
        });
        assert.deepEqual(notReady.items.map((i) => i.id), [db]);
        const ready = await go.call("ListPodSandbox", {
          filter: { state: { state: "SANDBOX_READY" } },
        });
        assert.deepEqual(ready.items.map((i) => i.id), [web]);
        await go.call("RemovePodSandbox", { pod_sandbox_id: db });
        assert.equal((await go.call("ListPodSandbox", {})).items.length, 1);
      });

      await t.step("errors carry their gRPC codes through the Go client", async () => {
        const before = await listDir(join(dirs.root, "sandboxes"));
        assert.equal(
          await go.code("RunPodSandbox", { config: podConfig("web") }),
          grpc.status.ALREADY_EXISTS,
        );
        assert.deepEqual(await listDir(join(dirs.root, "sandboxes")), before);
        assert.equal(
          await go.code("PodSandboxStatus", { pod_sandbox_id: "f".repeat(64) }),
          grpc.status.NOT_FOUND,
        );
        const missing = await goInvoke(
          bin,
          dirs.socket,
          "/runtime.v1.RuntimeService/NoSuchRpc",
          new Uint8Array(0),
        );
        assert.equal(missing.code, grpc.status.UNIMPLEMENTED, missing.message);
      });

      await t.step(
        "a pull from a registry that is down reads as the kubelet's RegistryUnavailable",
        async () => {
          // The kubelet strips the code of an UNKNOWN status only, then looks for the reason at
          // the start of the message (k8s.io/cri-api pkg/errors).
          const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
          const port = (l.addr as Deno.NetAddr).port;
          l.close();
          const out = await goInvoke(
            bin,
            dirs.socket,
            criPath("PullImage"),
            encodeRequest("PullImage", { image: { image: `127.0.0.1:${port}/it3/down:1` } }),
            { timeoutMs: 60_000 },
          );
          assert.equal(out.code, grpc.status.UNKNOWN, out.message);
          assert.match(out.message, /^RegistryUnavailable: Cannot reach registry "127\.0\.0\.1:/);
        },
      );

      await t.step("PullImage, ListImages and ImageStatus", async () => {
        const pulled = await go.call("PullImage", { image: { image } }, { timeoutMs: 60_000 });
        assert.match(pulled.image_ref, /sha256:[0-9a-f]{64}$/);
        const list = await go.call("ListImages", {});
        const found = list.images.find((i) => i.repo_tags.includes(image));
        assert.ok(found, `ListImages has ${image}: ${JSON.stringify(list.images)}`);
        assert.ok(Number(found.size) > 0, "a size");
        const st = await go.call("ImageStatus", { image: { image } });
        assert.equal(st.image?.id, found.id);
        // Pull progress is logged per layer.
        assert.match(daemon!.output(), /info Downloading layer=.* mib=/);
        assert.match(daemon!.output(), /info Downloaded layer=.* mib=.* ms=/);
      });

      await t.step("a busybox container: create, start, status, exec, stop, remove", async () => {
        const sandbox_config = podConfig("web");
        const id = (await go.call("CreateContainer", {
          pod_sandbox_id: web,
          sandbox_config,
          config: {
            metadata: { name: "box", attempt: 0 },
            image: { image },
            command: ["/bin/sh", "-c", "echo started; exec sleep 3600"],
            log_path: "box/0.log",
            labels: { name: "box" },
          },
        }, { timeoutMs: 60_000 })).container_id;
        assert.match(id, /^[0-9a-f]{64}$/);
        const created = await go.call("ContainerStatus", { container_id: id });
        assert.equal(created.status!.state, "CONTAINER_CREATED");

        await go.call("StartContainer", { container_id: id }, { timeoutMs: 30_000 });
        const running = await go.call("ContainerStatus", { container_id: id.slice(0, 12) });
        assert.equal(running.status!.id, id);
        assert.equal(running.status!.state, "CONTAINER_RUNNING");
        assert.equal(running.status!.metadata!.name, "box");
        assert.equal(running.status!.image!.image, image);
        const listed = await go.call("ListContainers", { filter: { pod_sandbox_id: web } });
        assert.deepEqual(listed.containers.map((c) => c.id), [id]);

        const r = await go.call("ExecSync", {
          container_id: id,
          cmd: ["/bin/sh", "-c", "echo hi; echo err >&2; hostname; exit 5"],
          timeout: 10,
        }, { timeoutMs: 30_000 });
        assert.equal(text(r.stdout), "hi\nweb\n");
        assert.equal(text(r.stderr), "err\n");
        assert.equal(r.exit_code, 5);
        const log = await waitFor("the container's log line", async () => {
          const t = await Deno.readTextFile(running.status!.log_path).catch(() => "");
          return t.includes("started") ? t : undefined;
        }, { timeoutMs: 20_000 });
        assert.match(log, /^\S+ stdout F started$/m);

        await go.call("StopContainer", { container_id: id, timeout: 1 }, { timeoutMs: 30_000 });
        const stopped = await go.call("ContainerStatus", { container_id: id });
        assert.equal(stopped.status!.state, "CONTAINER_EXITED");
        assert.notEqual(stopped.status!.finished_at, "0");
        await go.call("RemoveContainer", { container_id: id }, { timeoutMs: 30_000 });
        assert.equal(
          await go.code("ContainerStatus", { container_id: id }),
          grpc.status.NOT_FOUND,
        );
        assert.equal((await go.call("ListContainers", {})).containers.length, 0);
      });

      await t.step("StopPodSandbox and RemovePodSandbox leave nothing behind", async () => {
        await go.call("StopPodSandbox", { pod_sandbox_id: web }, { timeoutMs: 30_000 });
        const st = await go.call("PodSandboxStatus", { pod_sandbox_id: web });
        assert.equal(st.status!.state, "SANDBOX_NOTREADY");
        await go.call("RemovePodSandbox", { pod_sandbox_id: web }, { timeoutMs: 30_000 });
        await go.call("RemovePodSandbox", { pod_sandbox_id: web }); // idempotent
        assert.equal(
          await go.code("PodSandboxStatus", { pod_sandbox_id: web }),
          grpc.status.NOT_FOUND,
        );
        await go.call("RemoveImage", { image: { image } });
        assert.equal((await go.call("ListImages", {})).images.length, 0);
        assert.equal((await go.call("ListPodSandbox", {})).items.length, 0);
        assert.deepEqual(await listDir(join(dirs.root, "sandboxes")), []);
        assert.deepEqual(await listDir(join(dirs.runroot, "netns")), []);
        assert.deepEqual(
          (await mountsUnder(dirs.base)).filter((p) => !isDaemonDirMount(p)),
          [],
        );
        const leftover = (await pidsMentioning(dirs.base)).filter((p) => p !== daemon!.pid);
        assert.deepEqual(leftover, [], "no conmon or container process is left");
      });
    } finally {
      await daemon?.cleanup();
    }
  },
});
