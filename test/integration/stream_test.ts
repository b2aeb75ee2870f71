/**
 * Exec, Attach and PortForward end to end: the real daemon with conmon, runc and a CNI bridge;
 * an independent client (test/go-stream, on docker/spdystream as client-go is) upgrades to
 * SPDY/3.1 and speaks remotecommand v4 and portforward.k8s.io. Root only.
 * Network: bridge "ocidt21", 10.234.21.0/24; port-forward traffic goes to the pod's loopback.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { grpcCode, listDir, waitFor } from "../helpers/checks.ts";
import { execFilesDir, pidsMentioning, type TestDaemon } from "../helpers/daemon.ts";
import { buildGoStream, goStream } from "../helpers/go_stream.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  type TestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

/**
 * Terminal output with each run of CRs before a newline folded to one. One run on a busy
 * machine (of dozens) saw "\r\r\n" from a tty exec, as if the host-side pty had translated
 * newlines once more; a terminal shows both the same. Unexplained so far (see the note).
 */
const oneCr = (s: string) => s.replace(/\r+\n/g, "\r\n");

const BRIDGE = "ocidt21";
const SUBNET = "10.234.21.0/24";
const CGROUP_PARENT = "/ocid-it21";
const WAIT = { timeoutMs: 20_000 };

interface Ctx {
  daemon: TestDaemon;
  runtime: grpc.Client;
  pod: TestPod;
  image: string;
}

async function runContainer(ctx: Ctx, name: string, command: string[]): Promise<string> {
  const id = await createTestContainer(ctx.runtime, ctx.pod, { name, image: ctx.image, command });
  await call(ctx.runtime, "StartContainer", { container_id: id });
  return id;
}

/** Waits until an exec'd `sleep <seconds>` and the runtime that ran it are gone. */
async function waitExecKilled(ctx: Ctx, seconds: number): Promise<void> {
  await waitFor(`the exec'd "sleep ${seconds}" and its runc to be killed`, async () => {
    const left = [
      ...await pidsMentioning(`sleep ${seconds}`),
      ...await pidsMentioning(execFilesDir(ctx.daemon.dirs)),
    ];
    return left.length === 0 ? true : undefined;
  }, WAIT);
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
      const started = await startDaemonWithBusybox(registry.host, {
        repo: "it21/busybox",
        bridge: BRIDGE,
        subnet: SUBNET,
      });
      daemon = started.daemon;
      const { image } = started;
      const runtime = daemon.clients.runtime;
      const pod = await runTestPod(
        runtime,
        testPodConfig("streams", {
          namespace: "it21",
          uid: "uid-it21",
          cgroupParent: CGROUP_PARENT,
        }),
      );
      const podId = pod.id;
      const ctx: Ctx = { daemon, runtime, pod, image };
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

      const daemonFds = () => listDir(`/proc/${daemon!.pid}/fd`).then((fds) => fds.length);
      // Counted once the last step's connections have closed: the same count twice, 300 ms
      // apart (one read right after a session once counted a socket still closing, and the
      // daemon then went below that count).
      let fdsBeforeTty = await daemonFds();
      await waitFor("the daemon's fds to settle", async () => {
        await new Promise((r) => setTimeout(r, 300));
        const again = await daemonFds();
        if (again === fdsBeforeTty) return true;
        fdsBeforeTty = again;
        return undefined;
      }, WAIT);

      await t.step("tty exec: the process sees a terminal of the client's size", async () => {
        const url = await execUrl(ctx, {
          container_id: main,
          cmd: ["/bin/sh", "-c", "test -t 0 && test -t 1 && echo is-a-tty; tty; stty size; exit 3"],
          tty: true,
        });
        const res = await goStream(["exec", "-tty", "-resize", "100x40", url]);
        assert.equal(res.code, 0, res.stderr);
        assert.equal(res.stderr, "", "no stderr stream with a tty");
        assert.match(oneCr(res.stdout), /^is-a-tty\r\n\/dev\/pts\/\d+\r\n40 100\r\n$/);
        const status = JSON.parse(res.status);
        assert.equal(status.reason, "NonZeroExitCode");
        assert.deepEqual(status.details.causes, [{ reason: "ExitCode", message: "3" }]);
      });

      await t.step("tty exec: a resize message reaches the process as SIGWINCH", async () => {
        const url = await execUrl(ctx, {
          container_id: main,
          cmd: [
            "/bin/sh",
            "-c",
            "trap 'stty size; exit 0' WINCH; echo ready; while :; do sleep 0.1; done",
          ],
          tty: true,
        });
        const res = await goStream([
          "exec",
          "-tty",
          "-resize",
          "80x24",
          "-later-resize",
          "132x50",
          "-later-after",
          "ready",
          url,
        ]);
        assert.equal(res.code, 0, res.stderr);
        assert.equal(oneCr(res.stdout), "ready\r\n50 132\r\n");
        assert.deepEqual(JSON.parse(res.status), { metadata: {}, status: "Success" });
      });

      // Without a resize message (kubectl always sends one) the session waits 2 s for it.
      await t.step("tty exec: stdin is echoed by the terminal and its end is EOF", async () => {
        const url = await execUrl(ctx, {
          container_id: main,
          cmd: ["/bin/cat"],
          tty: true,
          stdin: true,
        });
        const res = await goStream(["exec", "-tty", "-stdin", url], { stdin: "hello tty\n" });
        assert.equal(res.code, 0, res.stderr);
        // The terminal echoes the line, then cat prints it; both with \r\n.
        assert.equal(oneCr(res.stdout), "hello tty\r\nhello tty\r\n");
        assert.deepEqual(JSON.parse(res.status), { metadata: {}, status: "Success" });
      });

      await t.step("tty exec: a client that disconnects leaves no process behind", async () => {
        for (const seconds of [4251, 4252, 4253]) {
          const url = await execUrl(ctx, {
            container_id: main,
            cmd: ["/bin/sh", "-c", `echo started; exec /bin/sleep ${seconds}`],
            tty: true,
          });
          const res = await goStream([
            "exec",
            "-tty",
            "-resize",
            "80x24",
            "-quit-after-output",
            url,
          ]);
          assert.match(res.stdout, /^started/);
          await waitExecKilled(ctx, seconds);
        }
      });

      await t.step("tty exec leaves no fd open in the daemon", async () => {
        let now = 0;
        await waitFor(`the daemon's fds to go back to ${fdsBeforeTty}`, async () => {
          now = await daemonFds();
          return now <= fdsBeforeTty || undefined;
        }, WAIT).catch((err) => {
          throw new Error(`${(err as Error).message}: ${now} open`, { cause: err });
        });
      });

      await t.step(
        "an exec session's files are in the daemon's exec dir while it runs, then gone",
        async () => {
          const execDir = execFilesDir(ctx.daemon.dirs);
          for (const [seconds, tty] of [[4246, false], [4247, true]] as const) {
            const url = await execUrl(ctx, {
              container_id: main,
              cmd: ["/bin/sh", "-c", `echo started; exec /bin/sleep ${seconds}`],
              ...(tty ? { tty: true } : {}),
            });
            // The client stays connected until the runner kills it, after 3 s.
            const client = goStream(
              ["exec", ...(tty ? ["-tty", "-resize", "80x24"] : []), url],
              { timeoutMs: 3_000 },
            ).then(() => new Error("the client ended by itself"), (err: Error) => err);
            await waitFor("the exec's process and its runtime", async () => {
              const running = (await pidsMentioning(`sleep ${seconds}`)).length > 0 &&
                (await pidsMentioning(execDir)).length > 0;
              return running || undefined;
            }, { timeoutMs: 2_500 });
            const files = await listDir(execDir);
            assert.ok(
              files.some((f) => f.startsWith(`${main}.`) && f.endsWith(".json")),
              `${files}`,
            );
            assert.match((await client).message, /timed out/);
            await waitExecKilled(ctx, seconds);
            await waitFor("the exec's files to be removed", async () => {
              return (await listDir(execDir)).length === 0 || undefined;
            }, WAIT);
          }
        },
      );

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
          await waitExecKilled(ctx, seconds);
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

      await t.step("tty attach: a resize message reaches the container's terminal", async () => {
        const id = await createTestContainer(ctx.runtime, ctx.pod, {
          name: "tty-winch",
          image: ctx.image,
          command: [
            "/bin/sh",
            "-c",
            "trap 'stty size; exit 0' WINCH; i=0; " +
            "while [ $i -lt 50 ]; do echo waiting; sleep 0.2; i=$((i+1)); done; echo no-winch",
          ],
          config: { tty: true },
        });
        await call(ctx.runtime, "StartContainer", { container_id: id });
        const { url } = await call(runtime, "Attach", {
          container_id: id,
          stdout: true,
          tty: true,
        });
        const res = await goStream(["exec", "-tty", "-resize", "132x50", url]);
        assert.equal(res.code, 0, res.stderr);
        assert.match(oneCr(res.stdout), /^50 132\r?\n/m, "the size the client sent");
        assert.equal(JSON.parse(res.status).status, "Success");
      });

      await t.step("attach with stdin writes to the container's stdin", async () => {
        const id = await createTestContainer(ctx.runtime, ctx.pod, {
          name: "reader",
          image: ctx.image,
          command: ["/bin/sh", "-c", "read line; echo got $line; cat; echo eof"],
          config: { stdin: true, stdin_once: true },
        });
        await call(ctx.runtime, "StartContainer", { container_id: id });
        const { url } = await call(runtime, "Attach", {
          container_id: id,
          stdin: true,
          stdout: true,
        });
        const res = await goStream(["exec", "-stdin", url], { stdin: "hello\nmore\n" });
        assert.equal(res.code, 0, res.stderr);
        // The end of stdin reaches cat as EOF (stdin_once), so the container exits.
        assert.equal(res.stdout, "got hello\nmore\neof\n");
        assert.equal(JSON.parse(res.status).status, "Success");
      });

      /** Serves `text` with busybox httpd on `listen` in the pod; GETs it by port-forward. */
      const forwardedGet = async (name: string, listen: string, port: number, text: string) => {
        await runContainer(ctx, name, [
          "/bin/sh",
          "-c",
          `echo ${text} > /tmp/${name}.html; exec /bin/busybox httpd -f -p ${listen} -h /tmp`,
        ]);
        const res = await waitFor(`httpd on ${listen} in the pod to answer`, async () => {
          const { url } = await call(runtime, "PortForward", {
            pod_sandbox_id: podId,
            port: [port],
          });
          const r = await goStream(["portforward", "-port", String(port), url], {
            stdin: `GET /${name}.html HTTP/1.0\r\n\r\n`,
          });
          return r.code === 0 ? r : undefined;
        }, WAIT);
        assert.match(res.stdout, /^HTTP\/1\.[01] 200 OK/);
        assert.match(res.stdout, new RegExp(text));
      };

      await t.step("port-forward reaches a server inside the pod", async () => {
        await forwardedGet("web", "8080", 8080, "hello-from-pod");
      });

      await t.step("port-forward reaches a server listening on ::1 only", async () => {
        await forwardedGet("web6", "[::1]:8082", 8082, "hello-over-v6");
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
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
