/**
 * Exec, Attach and PortForward over WebSocket end to end: the real daemon with conmon, runc and
 * a CNI bridge, and an independent client on gorilla/websocket (test/go-ws). Every subprotocol
 * (v5 with its stdin close signal, v4, the base64 variants, the unversioned one), exit codes,
 * a terminal's size, port-forward framing, and hostile input: unknown subprotocols, reused
 * tokens, bad handshakes, messages to unknown channels, bad base64, oversized messages, a client
 * that vanishes mid-exec. Root only. Network: bridge "ocidt45", 10.234.45.0/24.
 */
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { waitFor } from "../helpers/checks.ts";
import { execFilesDir, pidsMentioning, type TestDaemon } from "../helpers/daemon.ts";
import { goWs } from "../helpers/go_ws.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  type TestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt45";
const SUBNET = "10.234.45.0/24";
const CGROUP_PARENT = "/ocid-it45";
const WAIT = { timeoutMs: 20_000 };

interface Ctx {
  runtime: grpc.Client;
  pod: TestPod;
  image: string;
}

async function runContainer(ctx: Ctx, name: string, command: string[], config = {}) {
  const id = await createTestContainer(ctx.runtime, ctx.pod, {
    name,
    image: ctx.image,
    command,
    config,
  });
  await call(ctx.runtime, "StartContainer", { container_id: id });
  return id;
}

async function execUrl(ctx: Ctx, req: cri.ExecRequestInit): Promise<string> {
  return (await call(ctx.runtime, "Exec", { stdout: true, ...req })).url;
}

/** Sends a raw HTTP request to the streaming server and returns the status line. */
async function rawStatus(url: string, headers: string): Promise<string> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: x\r\n${headers}\r\n`,
      ),
    );
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0]!;
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "Exec, Attach and PortForward stream over WebSocket to an independent client",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    try {
      const started = await startDaemonWithBusybox(registry.host, {
        repo: "it45ws/busybox",
        bridge: BRIDGE,
        subnet: SUBNET,
      });
      daemon = started.daemon;
      const runtime = daemon.clients.runtime;
      const pod = await runTestPod(
        runtime,
        testPodConfig("ws", { namespace: "it45", uid: "uid-it45ws", cgroupParent: CGROUP_PARENT }),
      );
      const ctx: Ctx = { runtime, pod, image: started.image };
      const main = await runContainer(ctx, "main", ["/bin/sleep", "3600"]);

      await t.step(
        "v5: stdout, stderr, exit code 7 in the v4 status; the first message opens stdout",
        async () => {
          const url = await execUrl(ctx, {
            container_id: main,
            cmd: ["/bin/sh", "-c", "echo out; echo err >&2; exit 7"],
            stderr: true,
          });
          const res = await goWs(["exec", url, "-protocol", "v5.channel.k8s.io"]);
          assert.equal(res.code, 0, res.stderr);
          assert.equal(res.stdout, "out\n");
          assert.match(res.stderr, /^protocol: v5\.channel\.k8s\.io\nfirst: 1 0\n/);
          assert.match(res.stderr, /err\n/);
          const status = JSON.parse(res.status);
          assert.equal(status.reason, "NonZeroExitCode");
          assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "7" }]);
        },
      );

      await t.step("v4 and v4.base64: Success as a v4 status", async () => {
        for (const protocol of ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"]) {
          const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/echo", "hello ws"] });
          const res = await goWs(["exec", url, "-protocol", protocol]);
          assert.equal(res.code, 0, res.stderr);
          assert.match(res.stderr, new RegExp(`^protocol: ${protocol.replaceAll(".", "\\.")}\n`));
          assert.equal(res.stdout, "hello ws\n");
          assert.deepEqual(JSON.parse(res.status), { metadata: {}, status: "Success" });
        }
      });

      await t.step(
        "unversioned channel.k8s.io and base64: the plain-text exit message",
        async () => {
          for (const protocol of ["channel.k8s.io", "base64.channel.k8s.io"]) {
            const url = await execUrl(ctx, {
              container_id: main,
              cmd: ["/bin/sh", "-c", "exit 3"],
            });
            const res = await goWs(["exec", url, "-protocol", protocol]);
            assert.equal(res.code, 0, res.stderr);
            assert.match(
              res.status,
              /^command terminated with non-zero exit code: .* exit code 3$/,
            );
          }
        },
      );

      await t.step("v5: stdin reaches the process and the close signal is its EOF", async () => {
        const input = "hello stdin\n" + "0123456789abcdef".repeat(32 * 1024) + "\nend\n";
        const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/cat"], stdin: true });
        const res = await goWs(["exec", url, "-stdin", "-close-stdin"], { stdin: input });
        assert.equal(res.code, 0, res.stderr);
        assert.equal(res.stdout.length, input.length);
        assert.equal(res.stdout, input);
        assert.deepEqual(JSON.parse(res.status), { metadata: {}, status: "Success" });
      });

      await t.step(
        "tty: the process sees the terminal size the client sent on channel 4",
        async () => {
          const url = await execUrl(ctx, {
            container_id: main,
            cmd: ["/bin/sh", "-c", "sleep 0.3; stty size"],
            tty: true,
          });
          const res = await goWs(["exec", url, "-resize", "100x40"]);
          assert.equal(res.code, 0, res.stderr);
          assert.match(res.stdout, /40 100\r?\n/);
        },
      );

      await t.step(
        "attach over v5: stdin in, output back, Success when the container ends",
        async () => {
          const id = await runContainer(
            ctx,
            "reader",
            ["/bin/sh", "-c", "read line; echo got $line; cat; echo eof"],
            { stdin: true, stdin_once: true },
          );
          const { url } = await call(runtime, "Attach", {
            container_id: id,
            stdin: true,
            stdout: true,
          });
          const res = await goWs(["exec", url, "-stdin", "-close-stdin"], {
            stdin: "hello\nmore\n",
          });
          assert.equal(res.code, 0, res.stderr);
          assert.equal(res.stdout, "got hello\nmore\neof\n");
          assert.equal(JSON.parse(res.status).status, "Success");
        },
      );

      await t.step(
        "port-forward: the port prefix on both channels, then the pod's answer",
        async () => {
          await runContainer(ctx, "web", [
            "/bin/sh",
            "-c",
            "echo hello-from-pod > /tmp/index.html; exec /bin/busybox httpd -f -p 8080 -h /tmp",
          ]);
          const res = await waitFor("httpd in the pod to answer over WebSocket", async () => {
            const { url } = await call(runtime, "PortForward", {
              pod_sandbox_id: pod.id,
              port: [8080],
            });
            const r = await goWs([
              "portforward",
              `${url}?port=8080`,
              "-protocol",
              "v4.channel.k8s.io",
            ], {
              stdin: "GET /index.html HTTP/1.0\r\n\r\n",
            });
            return r.code === 0 && r.stdout !== "" ? r : undefined;
          }, WAIT);
          assert.match(
            res.stderr,
            /port on 0: 8080\nport on 1: 8080\n|port on 1: 8080\nport on 0: 8080\n/,
          );
          assert.match(res.stdout, /^HTTP\/1\.[01] 200 OK/);
          assert.match(res.stdout, /hello-from-pod/);
        },
      );

      await t.step(
        "port-forward to a closed port reports the error on the error channel",
        async () => {
          const { url } = await call(runtime, "PortForward", {
            pod_sandbox_id: pod.id,
            port: [8081],
          });
          const res = await goWs(["portforward", url, "-protocol", "v4.base64.channel.k8s.io"], {
            stdin: "x",
          });
          assert.equal(res.code, 1, res.stderr);
          assert.match(res.stderr, /error forwarding port 8081 to pod .*refused/i);
        },
      );

      await t.step(
        "hostile: an unknown subprotocol is 403 and keeps the token; a reused one 404",
        async () => {
          const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/echo", "kept"] });
          const refused = await goWs(["exec", url, "-protocol", "v9.channel.k8s.io"]);
          assert.equal(refused.code, 3);
          assert.equal(refused.stdout.trim(), "403");
          const ok = await goWs(["exec", url]);
          assert.equal(ok.stdout, "kept\n");
          const again = await goWs(["exec", url]);
          assert.equal(again.code, 3);
          assert.equal(again.stdout.trim(), "404");
        },
      );

      await t.step(
        "hostile: bad handshakes and bad ports are refused before the token is used",
        async () => {
          const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/echo", "x"] });
          const upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\n";
          assert.match(await rawStatus(url, upgrade), /^HTTP\/1\.1 400 /);
          assert.match(
            await rawStatus(
              url,
              `${upgrade}Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: eA==\r\n`,
            ),
            /^HTTP\/1\.1 400 /,
          );
          assert.equal((await goWs(["exec", url])).stdout, "x\n");
          const pf =
            (await call(runtime, "PortForward", { pod_sandbox_id: pod.id, port: [8080] })).url;
          for (const q of ["?port=0", "?port=99999", "?port=http"]) {
            const res = await goWs(["portforward", pf + q, "-protocol", "v4.channel.k8s.io"]);
            assert.equal(res.stdout.trim(), "400", q);
          }
        },
      );

      await t.step(
        "hostile: unknown channels and bad base64 are dropped; the session goes on",
        async () => {
          const url = await execUrl(ctx, {
            container_id: main,
            cmd: ["/bin/sh", "-c", "read l; echo got $l"],
            stdin: true,
          });
          // Channel 9, channel 1 (ours to write), then stdin "ok\n", then v5's close of stdin.
          const res = await goWs(["raw", url, "-send", "0978,0178,006f6b0a,ff00"]);
          assert.match(res.stdout, /message 01676f74206f6b0a/); // "got ok\n" on channel 1
          assert.match(res.stdout, /close 1000/);
          const b64 = await execUrl(ctx, {
            container_id: main,
            cmd: ["/bin/sh", "-c", "read l; echo got $l"],
            stdin: true,
          });
          // "0!!!" is not base64; then "0b2sK" ("ok\n"); the unversioned base64 protocol has no
          // close signal, so the process ends on its own after reading one line.
          const res64 = await goWs([
            "raw",
            b64,
            "-protocol",
            "base64.channel.k8s.io",
            "-send",
            "30212121,306232734b",
          ]);
          // "got ok\n" comes back as '1' + base64.
          assert.match(res64.stdout, new RegExp(`message ${hex("1" + btoa("got ok\n"))}`));
          assert.match(res64.stdout, /close 1000/);
        },
      );

      await t.step("hostile: a message over 1 MiB closes the socket with 1009", async () => {
        const url = await execUrl(ctx, {
          container_id: main,
          cmd: ["/bin/sleep", "4272"],
          stdin: true,
        });
        const res = await goWs(["raw", url, "-big", String(1024 * 1024 + 1)]);
        assert.match(res.stdout, /close 1009/);
        await waitExecKilled(started.daemon, "sleep 4272");
      });

      await t.step("a client that vanishes mid-exec leaves no process behind", async () => {
        const url = await execUrl(ctx, { container_id: main, cmd: ["/bin/sleep", "4271"] });
        // The runner kills the client after 1.5 s, mid-exec.
        await assert.rejects(goWs(["exec", url], { timeoutMs: 1500 }), /timed out/);
        await waitExecKilled(started.daemon, "sleep 4271");
      });
    } finally {
      await daemon?.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});

/** The hex of a string's UTF-8 bytes. */
function hex(s: string): string {
  return [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Waits until no process mentions `what`, nor an exec's runtime process. */
async function waitExecKilled(daemon: TestDaemon, what: string): Promise<void> {
  await waitFor(`"${what}" and its runc to be gone`, async () => {
    const left = [
      ...await pidsMentioning(what),
      ...await pidsMentioning(execFilesDir(daemon.dirs)),
    ];
    return left.length === 0 ? true : undefined;
  }, WAIT);
}
