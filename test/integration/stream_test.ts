/**
 * Exec, Attach and PortForward end to end: the real daemon with conmon, runc and a CNI bridge;
 * an independent client (test/go-stream, on docker/spdystream as client-go is) upgrades to
 * SPDY/3.1 and speaks remotecommand v4 and portforward.k8s.io. Root only.
 * Network: bridge "ocidt21", 10.234.21.0/24; port-forward traffic goes to the pod's loopback.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { grpcCode, listDir, pushBusybox, waitFor } from "../helpers/checks.ts";
import { pidsMentioning, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { buildGoStream, goStream } from "../helpers/go_stream.ts";
import { startRegistry } from "../helpers/registry.ts";

const BRIDGE = "ocidt21";
const SUBNET = "10.234.21.0/24";
const CGROUP_PARENT = "/ocid-it21";
const WAIT = { timeoutMs: 20_000 };

interface Ctx {
  daemon: TestDaemon;
  runtime: grpc.Client;
  podId: string;
  podConfig: cri.PodSandboxConfigInit;
  image: string;
}

async function runContainer(ctx: Ctx, name: string, command: string[]): Promise<string> {
  const { container_id: id } = await call(ctx.runtime, "CreateContainer", {
    pod_sandbox_id: ctx.podId,
    sandbox_config: ctx.podConfig,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: ctx.image },
      command,
      log_path: `${name}/0.log`,
    },
  }, { deadlineMs: 60_000 });
  await call(ctx.runtime, "StartContainer", { container_id: id });
  return id;
}

async function execUrl(ctx: Ctx, req: cri.ExecRequestInit): Promise<string> {
  return (await call(ctx.runtime, "Exec", { stdout: true, ...req })).url;
}

Deno.test({
  name: "Exec, Attach and PortForward stream through SPDY/3.1 to an independent client",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await buildGoStream();
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it21/busybox");
      daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
      const runtime = daemon.clients.runtime;
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const podConfig: cri.PodSandboxConfigInit = {
        metadata: { name: "streams", namespace: "it21", uid: "uid-it21", attempt: 0 },
        hostname: "streams",
        log_directory: "",
        linux: {
          cgroup_parent: CGROUP_PARENT,
          security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
        },
      };
      const podId = (await call(runtime, "RunPodSandbox", { config: podConfig }, {
        deadlineMs: 60_000,
      })).pod_sandbox_id;
      const ctx: Ctx = { daemon, runtime, podId, podConfig, image };
      const main = await runContainer(ctx, "main", [
        "/bin/sh",
        "-c",
        "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.2; done",
      ]);

      await t.step("the URL is on loopback and names the kind", async () => {
        const url = await execUrl(ctx, { container_id: main, cmd: ["true"] });
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{22}$/);
      });

      await t.step(
        "exec echo: stdout, stderr and a nonzero exit code in the v4 status",
        async () => {
          const url = await execUrl(ctx, {
            container_id: main,
            cmd: ["/bin/sh", "-c", "echo out; echo err >&2; exit 7"],
            stderr: true,
          });
          const res = await goStream(["exec", "-stderr", url]);
          assert.equal(res.code, 0, res.stderr);
          assert.equal(res.stdout, "out\n");
          assert.equal(res.stderr, "err\n");
          const status = JSON.parse(res.status);
          assert.equal(status.status, "Failure");
          assert.equal(status.reason, "NonZeroExitCode");
          assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "7" }]);
        },
      );

      await t.step("exec success: status Success", async () => {
        const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/echo", "hello"] });
        const res = await goStream(["exec", url]);
        assert.equal(res.stdout, "hello\n");
        assert.deepEqual(JSON.parse(res.status), { metadata: {}, status: "Success" });
      });

      await t.step("exec cat with stdin echoes it back, more than a 64 KiB window", async () => {
        const input = "hello stdin\n" + "0123456789abcdef".repeat(16 * 1024) + "\nend\n";
        const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/cat"], stdin: true });
        const res = await goStream(["exec", "-stdin", url], { stdin: input });
        assert.equal(res.code, 0, res.stderr);
        assert.equal(res.stdout.length, input.length);
        assert.ok(res.stdout === input, "cat echoed the input unchanged");
        assert.equal(JSON.parse(res.status).status, "Success");
      });

      await t.step("a reused token gets 404", async () => {
        const url = await execUrl(ctx, { container_id: main, cmd: ["true"] });
        assert.equal((await goStream(["exec", url])).code, 0);
        const again = await goStream(["status", url]);
        assert.equal(again.code, 3);
        assert.match(again.stdout, /^http status 404\n/);
        const made = await goStream([
          "status",
          url.replace(/\/exec\/.*/, "/exec/AAAAAAAAAAAAAAAAAAAAAA"),
        ]);
        assert.match(made.stdout, /^http status 404\n/);
      });

      await t.step("an unsupported protocol gets 403 and keeps the token", async () => {
        const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/echo", "kept"] });
        const res = await goStream(["status", "-protocol", "v1.channel.k8s.io", url]);
        assert.match(res.stdout, /^http status 403\n/);
        assert.equal(
          (await goStream(["exec", "-protocol", "v3.channel.k8s.io", url])).stdout,
          "kept\n",
        );
      });

      await t.step("exec with a tty is refused on the error stream", async () => {
        const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/sh"], tty: true });
        const res = await goStream(["exec", "-tty", url]);
        const status = JSON.parse(res.status);
        assert.equal(status.status, "Failure");
        assert.match(status.message, /cannot allocate a terminal.*without -t/);
      });

      await t.step("a client that disconnects mid-exec leaves no process behind", async () => {
        // Several times: the client quits as soon as the process printed, which can be before
        // runc wrote the process's pid file.
        for (const seconds of [4241, 4242, 4243, 4244, 4245]) {
          const url = await execUrl(ctx, {
            container_id: main,
            cmd: ["/bin/sh", "-c", `echo started; exec /bin/sleep ${seconds}`],
          });
          const res = await goStream(["exec", "-quit-after-output", url]);
          assert.equal(res.stdout, "started\n");
          await waitFor(`the exec'd "sleep ${seconds}" and its runc to be killed`, async () => {
            const left = [
              ...await pidsMentioning(`sleep ${seconds}`),
              ...await pidsMentioning("ocid-stream-exec-"),
            ];
            return left.length === 0 ? true : undefined;
          }, WAIT);
        }
      });

      await t.step("attach reads what the container prints", async () => {
        const { url } = await call(runtime, "Attach", { container_id: main, stdout: true });
        assert.match(url, /\/attach\//);
        const res = await goStream(["exec", "-quit-after-output", url]);
        assert.match(res.stdout, /^line\d+\n/);
      });

      await t.step("attach follows until the container exits, then reports Success", async () => {
        const id = await runContainer(ctx, "waiter", [
          "/bin/sh",
          "-c",
          "while [ ! -f /tmp/go ]; do sleep 0.1; done; echo bye; echo bye-err >&2",
        ]);
        const { url } = await call(runtime, "Attach", {
          container_id: id,
          stdout: true,
          stderr: true,
        });
        const before = daemon!.output().split("Attach session started").length;
        const client = goStream(["exec", "-stderr", url]);
        await waitFor(
          "the attach session to start",
          () =>
            Promise.resolve(
              daemon!.output().split("Attach session started").length > before || undefined,
            ),
          WAIT,
        );
        await call(runtime, "ExecSync", {
          container_id: id,
          cmd: ["/bin/sh", "-c", ": > /tmp/go"],
          timeout: 10,
        });
        const res = await client;
        assert.equal(res.stdout, "bye\n");
        assert.equal(res.stderr, "bye-err\n");
        assert.equal(JSON.parse(res.status).status, "Success");
      });

      await t.step("attach with stdin is refused on the error stream", async () => {
        const { url } = await call(runtime, "Attach", {
          container_id: main,
          stdin: true,
          stdout: true,
        });
        const res = await goStream(["exec", "-stdin", url], { stdin: "" });
        assert.match(JSON.parse(res.status).message, /cannot attach to the stdin/);
      });

      await t.step("port-forward reaches a server inside the pod", async () => {
        await runContainer(ctx, "web", [
          "/bin/sh",
          "-c",
          "echo hello-from-pod > /tmp/index.html; exec /bin/busybox httpd -f -p 8080 -h /tmp",
        ]);
        const res = await waitFor("httpd in the pod to answer", async () => {
          const { url } = await call(runtime, "PortForward", {
            pod_sandbox_id: podId,
            port: [8080],
          });
          const r = await goStream(["portforward", "-port", "8080", url], {
            stdin: "GET /index.html HTTP/1.0\r\n\r\n",
          });
          return r.code === 0 ? r : undefined;
        }, WAIT);
        assert.match(res.stdout, /^HTTP\/1\.[01] 200 OK/);
        assert.match(res.stdout, /hello-from-pod/);
      });

      await t.step("port-forward to a closed port reports the error", async () => {
        const { url } = await call(runtime, "PortForward", { pod_sandbox_id: podId, port: [8081] });
        const res = await goStream(["portforward", "-port", "8081", url], { stdin: "x" });
        assert.equal(res.code, 1);
        assert.match(res.stderr, /error forwarding port 8081 to pod .*refused/i);
      });

      await t.step("requests are validated", async () => {
        const cases: Array<[string, Record<string, unknown>, number]> = [
          ["Exec", { container_id: main, cmd: [], stdout: true }, grpc.status.INVALID_ARGUMENT],
          ["Exec", { container_id: main, cmd: ["true"] }, grpc.status.INVALID_ARGUMENT],
          [
            "Exec",
            { container_id: main, cmd: ["sh"], tty: true, stdout: true, stderr: true },
            grpc.status.INVALID_ARGUMENT,
          ],
          ["Exec", { container_id: "nope", cmd: ["true"], stdout: true }, grpc.status.NOT_FOUND],
          ["Attach", { container_id: main }, grpc.status.INVALID_ARGUMENT],
          ["PortForward", { pod_sandbox_id: "nope", port: [80] }, grpc.status.NOT_FOUND],
        ];
        for (const [rpc, req, code] of cases) {
          assert.equal(
            await grpcCode(call(runtime, rpc as "Exec", req)),
            code,
            `${rpc} ${JSON.stringify(req)}`,
          );
        }
      });

      await call(runtime, "StopPodSandbox", { pod_sandbox_id: podId }, { deadlineMs: 60_000 });
      await t.step("a stopped pod cannot port-forward nor exec", async () => {
        assert.equal(
          await grpcCode(call(runtime, "PortForward", { pod_sandbox_id: podId, port: [80] })),
          grpc.status.FAILED_PRECONDITION,
        );
        assert.equal(
          await grpcCode(
            call(runtime, "Exec", { container_id: main, cmd: ["true"], stdout: true }),
          ),
          grpc.status.FAILED_PRECONDITION,
        );
      });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: podId }, { deadlineMs: 60_000 });
    } finally {
      await daemon?.cleanup();
      for (const hierarchy of await listDir("/sys/fs/cgroup")) {
        await Deno.remove(join("/sys/fs/cgroup", hierarchy, CGROUP_PARENT)).catch(() => {});
      }
    }
  },
});
