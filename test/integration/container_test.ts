/**
 * Containers end to end, against the real daemon with real conmon, runc, CNI bridge and the
 * test registry. Root only. Network: bridge "ocidt4", 10.234.4.0/24.
 *
 * The daemon runs runc through a wrapper that logs every invocation, so the test can show that
 * ListContainers and ContainerStatus spawn no runtime process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { alive, grpcCode, listDir, pushBusybox, waitFor } from "../helpers/checks.ts";
import { mountsUnder, pidsMentioning, startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import { exists } from "../../src/exists.ts";

const BRIDGE = "ocidt4";
const SUBNET = "10.234.4.0/24";
const CGROUP_PARENT = "/ocid-it4";
/** This suite polls for at most 20 s. */
const WAIT = { timeoutMs: 20_000 };

/** The cgroup v1 directory of `pid` for `controller` (from /proc/<pid>/cgroup). */
/** Every path under `dir` (relative), dirs and files; none when it does not exist. */
async function* walk(dir: string, prefix = ""): AsyncGenerator<string> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(join(dir, prefix)));
  } catch {
    return;
  }
  for (const e of entries) {
    const rel = join(prefix, e.name);
    yield rel;
    if (e.isDirectory) yield* walk(dir, rel);
  }
}

async function cgroupDir(pid: number, controller: string): Promise<string> {
  const text = await Deno.readTextFile(`/proc/${pid}/cgroup`);
  for (const line of text.split("\n")) {
    const [, controllers, path] = line.split(":");
    if (controllers?.split(",").includes(controller)) {
      return join("/sys/fs/cgroup", controller, path ?? "");
    }
  }
  throw new Error(`No ${controller} cgroup for pid ${pid}: ${text}`);
}

async function cgroupValue(pid: number, controller: string, file: string): Promise<string> {
  return (await Deno.readTextFile(join(await cgroupDir(pid, controller), file))).trim();
}

/** Creates and starts a container that ignores SIGTERM; returns once its trap is set. */
async function startIgnoringTerm(ctx: Ctx, name: string): Promise<string> {
  const id = await create(ctx, name, {
    command: ["/bin/sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"],
  });
  await start(ctx, id);
  await waitFor(
    "ready",
    async () => (await logText(ctx, id)).includes("ready") || undefined,
    WAIT,
  );
  return id;
}

/** Latencies in ms, per RPC. */
const latencies: Record<string, number[]> = {};
async function timed<T>(rpc: string, p: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await p();
  (latencies[rpc] ??= []).push(performance.now() - t0);
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

interface Ctx {
  daemon: TestDaemon;
  runtime: grpc.Client;
  podId: string;
  podConfig: cri.PodSandboxConfigInit;
  image: string;
}

function podConfig(name: string): cri.PodSandboxConfigInit {
  return {
    metadata: { name, namespace: "it4", uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    log_directory: "",
    linux: {
      cgroup_parent: CGROUP_PARENT,
      security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
    },
  };
}

async function create(
  ctx: Ctx,
  name: string,
  config: cri.ContainerConfigInit,
): Promise<string> {
  const res = await timed("CreateContainer", () =>
    call(ctx.runtime, "CreateContainer", {
      pod_sandbox_id: ctx.podId,
      sandbox_config: ctx.podConfig,
      config: {
        metadata: { name, attempt: 0 },
        image: { image: ctx.image },
        log_path: `${name}/0.log`,
        labels: { test: "container", name },
        annotations: { "example.com/a": name },
        ...config,
      },
    }, { deadlineMs: 60_000 }));
  return res.container_id;
}

async function start(ctx: Ctx, id: string): Promise<void> {
  await timed("StartContainer", () => call(ctx.runtime, "StartContainer", { container_id: id }));
}

async function status(ctx: Ctx, id: string, verbose = false) {
  return await call(ctx.runtime, "ContainerStatus", { container_id: id, verbose });
}

async function info(
  ctx: Ctx,
  id: string,
): Promise<{ pid: number; conmonPid: number; bundle: string }> {
  return JSON.parse((await status(ctx, id, true)).info.info!);
}

async function exec(ctx: Ctx, id: string, cmd: string[], timeout = 10) {
  return await timed(
    "ExecSync",
    () => call(ctx.runtime, "ExecSync", { container_id: id, cmd, timeout }, { deadlineMs: 60_000 }),
  );
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function waitExited(ctx: Ctx, id: string) {
  return await waitFor(`container ${id} to exit`, async () => {
    const st = await status(ctx, id);
    return st.status!.state === "CONTAINER_EXITED" ? st.status! : undefined;
  }, WAIT);
}

async function logText(ctx: Ctx, id: string): Promise<string> {
  const path = (await status(ctx, id)).status!.log_path;
  return await Deno.readTextFile(path);
}

/** A runc wrapper that logs each invocation (its name must contain "runc"). */
async function countingRuntime(dir: string): Promise<{ path: string; count(): Promise<number> }> {
  const path = join(dir, "counting-runc");
  const logFile = join(dir, "runc-calls.log");
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\necho "$*" >> '${logFile}'\nexec /usr/sbin/runc "$@"\n`,
    { mode: 0o755 },
  );
  return {
    path,
    count: async () =>
      (await Deno.readTextFile(logFile).catch(() => "")).split("\n").filter((l) => l).length,
  };
}

Deno.test({
  name: "Containers run, exec, stop and go away with their pod on real conmon and runc",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const toolDir = await Deno.makeTempDir({ prefix: "ocid-it4-tools-" });
    const hostDir = await Deno.makeTempDir({ prefix: "ocid-it4-host-" });
    const counter = await countingRuntime(toolDir);
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushBusybox(registry.host, "it4/busybox");
      daemon = await startDaemon({
        bridge: BRIDGE,
        subnet: SUBNET,
        flags: ["--runtime", counter.path],
        config: `absent_mount_sources_to_reject = [${JSON.stringify(join(hostDir, "rejected"))}]\n`,
      });
      const runtime = daemon.clients.runtime;
      await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
      const pc = podConfig("box");
      const podId = (await call(runtime, "RunPodSandbox", { config: pc }, { deadlineMs: 60_000 }))
        .pod_sandbox_id;
      const ctx: Ctx = { daemon, runtime, podId, podConfig: pc, image };

      await t.step(
        "a container that prints and exits 3: CRI logs, exit 3, reason Error",
        async () => {
          const id = await create(ctx, "exit3", {
            command: ["/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"],
          });
          const created = await status(ctx, id);
          assert.equal(created.status!.state, "CONTAINER_CREATED");
          assert.equal(created.status!.started_at, "0");
          await start(ctx, id);
          const st = await waitExited(ctx, id);
          assert.equal(st.exit_code, 3);
          assert.equal(st.reason, "Error");
          assert.notEqual(st.finished_at, "0");
          assert.ok(BigInt(st.finished_at) >= BigInt(st.started_at), "finished after started");
          assert.ok(BigInt(st.started_at) >= BigInt(st.created_at), "started after created");
          assert.equal(st.labels.name, "exit3");
          assert.equal(st.annotations["example.com/a"], "exit3");
          assert.equal(st.image!.image, image);
          assert.match(st.image_ref, /@sha256:[0-9a-f]{64}$/);
          const log = await logText(ctx, id);
          assert.match(log, /^\d{4}-\d\d-\d\dT\S+ stdout F hello$/m);
          assert.match(log, /^\d{4}-\d\d-\d\dT\S+ stderr F oops$/m);
        },
      );

      await t.step("a container ignoring SIGTERM is killed after the stop timeout", async () => {
        const id = await create(ctx, "stubborn", {
          command: ["/bin/sh", "-c", "trap '' TERM; echo ready; while true; do sleep 1; done"],
        });
        await start(ctx, id);
        const { pid } = await info(ctx, id);
        assert.ok(alive(pid));
        await waitFor(
          "ready",
          async () => (await logText(ctx, id)).includes("ready") || undefined,
          WAIT,
        );
        await call(runtime, "StopContainer", { container_id: id, timeout: 1 }, {
          deadlineMs: 30_000,
        });
        const st = (await status(ctx, id)).status!;
        assert.equal(st.state, "CONTAINER_EXITED");
        assert.equal(st.exit_code, 137, "SIGKILL");
        assert.ok(!alive(pid), "process gone");
        await call(runtime, "StopContainer", { container_id: id, timeout: 1 }); // idempotent
      });

      await t.step(
        "a shorter StopContainer ends a longer one under way (a kubelet shortening the grace period)",
        async () => {
          const id = await startIgnoringTerm(ctx, "stubborn-2");
          const long = call(runtime, "StopContainer", { container_id: id, timeout: 3600 }, {
            deadlineMs: 30_000,
          });
          await new Promise((r) => setTimeout(r, 300)); // the first one sends SIGTERM and waits
          await call(runtime, "StopContainer", { container_id: id, timeout: 1 }, {
            deadlineMs: 20_000,
          });
          await long; // ends with the short one, long before its own deadline and 3600 s
          const st = (await status(ctx, id)).status!;
          assert.equal(st.state, "CONTAINER_EXITED");
          assert.equal(st.exit_code, 137, "SIGKILL");
          await call(runtime, "RemoveContainer", { container_id: id });
        },
      );

      await t.step(
        "a graceful stop under way does not hold up ReopenContainerLog, UpdateContainerResources or ExecSync; RemoveContainer kills at once (CRI-O's logs.bats)",
        async () => {
          const id = await startIgnoringTerm(ctx, "stubborn-4");
          let stopped = false;
          const long = call(runtime, "StopContainer", { container_id: id, timeout: 3600 }, {
            deadlineMs: 60_000,
          }).finally(() => stopped = true);
          await new Promise((r) => setTimeout(r, 300)); // the stop sends SIGTERM and waits
          await call(runtime, "ReopenContainerLog", { container_id: id }, { deadlineMs: 20_000 });
          await call(runtime, "UpdateContainerResources", {
            container_id: id,
            linux: { cpu_shares: 300 },
          }, { deadlineMs: 20_000 });
          const out = await exec(ctx, id, ["/bin/echo", "probe"]);
          assert.equal(text(out.stdout), "probe\n");
          assert.equal(stopped, false, "the stop still waits on its grace period");
          assert.equal((await status(ctx, id)).status!.state, "CONTAINER_RUNNING");
          assert.equal(
            (await status(ctx, id)).status!.resources?.linux?.cpu_shares,
            "300",
          );
          // The kubelet removes a container only after stopping it, but CRI says a running one
          // is removed by force: the stop under way ends with SIGKILL, not after 3600 s.
          await call(runtime, "RemoveContainer", { container_id: id }, { deadlineMs: 30_000 });
          await long;
          assert.equal(await grpcCode(status(ctx, id)), grpc.status.NOT_FOUND);
        },
      );

      await t.step(
        "a StopContainer whose client gives up leaves the container running (containerd's TestContainerStopCancellation)",
        async () => {
          const id = await startIgnoringTerm(ctx, "stubborn-3");
          const code = await grpcCode(
            call(runtime, "StopContainer", { container_id: id, timeout: 3 }, { deadlineMs: 1000 }),
          );
          assert.equal(code, grpc.status.DEADLINE_EXCEEDED);
          await new Promise((r) => setTimeout(r, 3000)); // past the request's own timeout
          assert.equal((await status(ctx, id)).status!.state, "CONTAINER_RUNNING", "no SIGKILL");
          await call(runtime, "StopContainer", { container_id: id, timeout: 1 }, {
            deadlineMs: 20_000,
          });
          assert.equal((await status(ctx, id)).status!.exit_code, 137);
          await call(runtime, "RemoveContainer", { container_id: id });
        },
      );

      await t.step(
        "StopContainer sends the request's stop signal, real-time ones too, and ContainerStatus names it (SIGTERM by default)",
        async () => {
          // containerd's TestContainerStopSignals and TestDefaultContainerStopSignal.
          const cases: [cri.Signal | undefined, number, string][] = [
            [undefined, 15, "SIGTERM"],
            ["SIGUSR1", 10, "SIGUSR1"],
            ["SIGRTMINPLUS3", 37, "SIGRTMINPLUS3"],
          ];
          for (const [signal, number, reported] of cases) {
            const id = await create(ctx, `stop-${number}`, {
              command: [
                "/bin/sh",
                "-c",
                `trap 'echo Received ${number}; exit 0' ${number}; echo ready; ` +
                `while true; do sleep 1; done`,
              ],
              ...(signal ? { stop_signal: signal } : {}),
            });
            await start(ctx, id);
            await waitFor(
              "ready",
              async () => (await logText(ctx, id)).includes("ready") || undefined,
              WAIT,
            );
            assert.equal((await status(ctx, id)).status!.stop_signal, reported);
            await call(runtime, "StopContainer", { container_id: id, timeout: 10 }, {
              deadlineMs: 30_000,
            });
            const st = (await status(ctx, id)).status!;
            assert.equal(st.exit_code, 0, `${reported}: the trap ran, not SIGKILL`);
            assert.match(await logText(ctx, id), new RegExp(`stdout F Received ${number}$`, "m"));
            assert.equal(st.stop_signal, reported);
            await call(runtime, "RemoveContainer", { container_id: id });
          }
        },
      );

      let server = "";
      await t.step(
        "exec into a running container: stdout, stderr, exit code, timeout",
        async () => {
          server = await create(ctx, "server", {
            command: [
              "/bin/sh",
              "-c",
              "echo shared > /tmp/index.html; exec /bin/busybox httpd -f -p 127.0.0.1:8080 -h /tmp",
            ],
          });
          await start(ctx, server);
          for (let i = 0; i < 5; i++) {
            const r = await exec(ctx, server, ["/bin/sh", "-c", "echo hi; echo err >&2; exit 5"]);
            assert.equal(text(r.stdout), "hi\n");
            assert.equal(text(r.stderr), "err\n");
            assert.equal(r.exit_code, 5);
          }
          const code = await grpcCode(exec(ctx, server, ["/bin/sleep", "30"], 1));
          assert.equal(code, grpc.status.DEADLINE_EXCEEDED);
        },
      );

      await t.step("two containers of one pod share the network (loopback)", async () => {
        const client = await create(ctx, "client", { command: ["/bin/sleep", "3600"] });
        await start(ctx, client);
        const body = await waitFor("the server to answer", async () => {
          const r = await exec(ctx, client, [
            "/bin/busybox",
            "wget",
            "-q",
            "-O",
            "-",
            "http://127.0.0.1:8080/index.html",
          ]);
          return r.exit_code === 0 ? text(r.stdout) : undefined;
        }, WAIT);
        assert.equal(body, "shared\n");
      });

      await t.step("resources and seccomp show in the cgroup and /proc/self/status", async (t) => {
        const id = await create(ctx, "limited", {
          command: ["/bin/sh", "-c", "cat /proc/self/status; echo done; exec sleep 3600"],
          linux: {
            resources: {
              cpu_shares: 512,
              cpu_quota: 50_000,
              cpu_period: 100_000,
              memory_limit_in_bytes: 64 * 1024 * 1024,
              oom_score_adj: 500,
            },
            security_context: {
              seccomp: { profile_type: "RuntimeDefault" },
              no_new_privs: true,
              capabilities: { drop_capabilities: ["NET_RAW", "CHOWN"] },
            },
          },
        });
        await start(ctx, id);
        const { pid } = await info(ctx, id);
        assert.equal(await cgroupValue(pid, "cpu", "cpu.shares"), "512");
        assert.equal(await cgroupValue(pid, "cpu", "cpu.cfs_quota_us"), "50000");
        assert.equal(await cgroupValue(pid, "cpu", "cpu.cfs_period_us"), "100000");
        assert.equal(await cgroupValue(pid, "memory", "memory.limit_in_bytes"), String(64 << 20));
        // No swap limit asked for: memory and swap together are the memory limit (no swap), as
        // under containerd and CRI-O, where the kernel accounts swap (this machine does).
        assert.equal(
          await cgroupValue(pid, "memory", "memory.memsw.limit_in_bytes"),
          String(64 << 20),
        );
        assert.ok((await cgroupDir(pid, "memory")).includes(`${CGROUP_PARENT}/ocid-${id}`));
        assert.equal((await Deno.readTextFile(`/proc/${pid}/oom_score_adj`)).trim(), "500");
        const log = await waitFor("status output", async () => {
          const l = await logText(ctx, id);
          return l.includes("stdout F done") ? l : undefined;
        }, WAIT);
        assert.match(log, /stdout F Seccomp:\s+2$/m);
        assert.match(log, /stdout F NoNewPrivs:\s+1$/m);
        const capEff = /stdout F CapEff:\s+([0-9a-f]+)$/m.exec(log)?.[1];
        assert.ok(capEff, log);
        const caps = BigInt(`0x${capEff}`);
        assert.equal((caps >> 13n) & 1n, 0n, "CAP_NET_RAW dropped");
        assert.equal(caps & 1n, 0n, "CAP_CHOWN dropped");
        assert.equal((caps >> 1n) & 1n, 1n, "CAP_DAC_OVERRIDE kept");

        await t.step(
          "UpdateContainerResources reaches the running container's cgroup",
          async () => {
            await call(runtime, "UpdateContainerResources", {
              container_id: id,
              linux: {
                cpu_shares: 256,
                cpu_quota: 20_000,
                cpu_period: 100_000,
                memory_limit_in_bytes: 128 * 1024 * 1024,
              },
            });
            assert.equal(await cgroupValue(pid, "cpu", "cpu.shares"), "256");
            assert.equal(await cgroupValue(pid, "cpu", "cpu.cfs_quota_us"), "20000");
            assert.equal(
              await cgroupValue(pid, "memory", "memory.limit_in_bytes"),
              String(128 << 20),
            );
            // No swap asked: swap follows the new limit, as at create (CRI-O's "ctr update
            // resources" reads memory.memsw.limit_in_bytes).
            assert.equal(
              await cgroupValue(pid, "memory", "memory.memsw.limit_in_bytes"),
              String(128 << 20),
            );
            const st = (await status(ctx, id)).status!;
            assert.equal(st.resources?.linux?.memory_limit_in_bytes, String(128 << 20));
          },
        );

        await t.step(
          "a cpuset-only update (the kubelet's CPU manager) keeps the other limits, in the cgroup and the status",
          async () => {
            const swapBefore = await cgroupValue(pid, "memory", "memory.memsw.limit_in_bytes");
            await call(runtime, "UpdateContainerResources", {
              container_id: id,
              linux: { cpuset_cpus: "0-1" },
            });
            assert.equal(await cgroupValue(pid, "cpuset", "cpuset.cpus"), "0-1");
            assert.equal(await cgroupValue(pid, "cpu", "cpu.shares"), "256");
            assert.equal(
              await cgroupValue(pid, "memory", "memory.limit_in_bytes"),
              String(128 << 20),
            );
            assert.equal(
              await cgroupValue(pid, "memory", "memory.memsw.limit_in_bytes"),
              swapBefore,
            );
            const linux = (await status(ctx, id)).status!.resources?.linux;
            assert.equal(linux?.cpuset_cpus, "0-1");
            assert.equal(linux?.memory_limit_in_bytes, String(128 << 20));
            assert.equal(linux?.cpu_shares, "256");
            assert.equal(linux?.cpu_quota, "20000");
          },
        );

        await t.step(
          "a memory limit below what the container holds is FAILED_PRECONDITION and changes nothing",
          async () => {
            // 40 MiB in the pod's /dev/shm (tmpfs, charged to the container, not reclaimable
            // without swap), then 16 MiB asked with a cpuset that runc sets before the memory.
            const fill = await exec(ctx, id, [
              "/bin/busybox",
              "dd",
              "if=/dev/zero",
              "of=/dev/shm/fill",
              "bs=1048576",
              "count=40",
            ]);
            assert.equal(fill.exit_code, 0, text(fill.stderr));
            const cpusBefore = await cgroupValue(pid, "cpuset", "cpuset.cpus");
            assert.notEqual(cpusBefore, "0", "the cpuset asked is not the container's");
            const err = await call(runtime, "UpdateContainerResources", {
              container_id: id,
              linux: { cpuset_cpus: "0", cpu_shares: 300, memory_limit_in_bytes: 16 << 20 },
            }).then(() => undefined, (e) => e as grpc.ServiceError);
            assert.equal(err?.code, grpc.status.FAILED_PRECONDITION, String(err));
            assert.match(err!.details, /to 16777216 bytes: it uses \d+ bytes/);
            assert.equal(await cgroupValue(pid, "cpuset", "cpuset.cpus"), cpusBefore);
            assert.equal(await cgroupValue(pid, "cpu", "cpu.shares"), "256");
            assert.equal(
              await cgroupValue(pid, "memory", "memory.limit_in_bytes"),
              String(128 << 20),
            );
            const st = (await status(ctx, id)).status!;
            assert.equal(st.resources?.linux?.memory_limit_in_bytes, String(128 << 20));
            const rm = await exec(ctx, id, ["/bin/busybox", "rm", "/dev/shm/fill"]);
            assert.equal(rm.exit_code, 0, text(rm.stderr));
          },
        );
      });

      await t.step("a container over its memory limit is OOMKilled", async () => {
        const limit = 16 * 1024 * 1024;
        const id = await create(ctx, "hog", {
          command: [
            "/bin/sh",
            "-c",
            "x=$(/bin/busybox head -c 200000000 /dev/zero | /bin/busybox tr '\\0' a); echo survived",
          ],
          linux: { resources: { memory_limit_in_bytes: limit, memory_swap_limit_in_bytes: limit } },
        });
        await start(ctx, id);
        const st = await waitExited(ctx, id);
        assert.equal(st.reason, "OOMKilled", `exit ${st.exit_code}: ${await logText(ctx, id)}`);
        assert.notEqual(st.exit_code, 0);
      });

      await t.step("read-only rootfs is enforced; bind mounts work", async () => {
        await Deno.writeTextFile(join(hostDir, "hello.txt"), "from host\n");
        const roDir = join(hostDir, "ro");
        await Deno.mkdir(roDir);
        // Files reached through symlinks (containerd's TestContainerSymlinkVolumes).
        const links = join(hostDir, "links");
        await Deno.mkdir(join(links, "regular"), { recursive: true });
        await Deno.writeTextFile(join(links, "regular", "foo.txt"), "through links\n");
        await Deno.symlink(join(links, "regular"), join(links, "symlink_folder"));
        await Deno.symlink(join(links, "regular", "foo.txt"), join(links, "symlink_file"));
        await Deno.symlink(join(links, "symlink_folder", "foo.txt"), join(links, "both"));
        const id = await create(ctx, "readonly", {
          command: [
            "/bin/sh",
            "-c",
            "touch /rootfs-file 2>/dev/null && echo rootfs-writable || echo rootfs-readonly; " +
            "cat /data/hello.txt; echo from-container > /data/out.txt; " +
            "touch /ro/x 2>/dev/null && echo ro-writable || echo ro-readonly; " +
            "echo tmp > /tmp/x 2>/dev/null || echo tmp-readonly; echo made > /made/f; " +
            "cat /l1 /l2 /l3; echo finished",
          ],
          mounts: [
            { container_path: "/data", host_path: hostDir },
            { container_path: "/ro", host_path: roDir, readonly: true },
            // Missing: made (as containerd and CRI-O do), with its missing parent.
            { container_path: "/made", host_path: join(hostDir, "made", "deep") },
            { container_path: "/l1", host_path: join(links, "symlink_folder", "foo.txt") },
            { container_path: "/l2", host_path: join(links, "symlink_file") },
            { container_path: "/l3", host_path: join(links, "both") },
          ],
          linux: { security_context: { readonly_rootfs: true } },
        });
        await start(ctx, id);
        const st = await waitExited(ctx, id);
        assert.equal(st.exit_code, 0);
        assert.equal(st.reason, "Completed");
        const log = await logText(ctx, id);
        assert.match(log, /stdout F rootfs-readonly$/m);
        assert.match(log, /stdout F from host$/m);
        assert.match(log, /stdout F ro-readonly$/m);
        assert.equal(log.match(/stdout F through links$/gm)?.length, 3, log);
        assert.equal(await Deno.readTextFile(join(hostDir, "out.txt")), "from-container\n");
        assert.equal(await Deno.readTextFile(join(hostDir, "made", "deep", "f")), "made\n");
        assert.equal((await Deno.stat(join(hostDir, "made"))).mode! & 0o777, 0o755);
        assert.deepEqual(
          st.mounts.map((m) => [m.container_path, m.readonly]),
          [["/data", false], ["/ro", true], ["/made", false], ["/l1", false], ["/l2", false], [
            "/l3",
            false,
          ]],
        );
      });

      await t.step("ReopenContainerLog after the log file is moved", async () => {
        const id = await create(ctx, "chatty", {
          command: [
            "/bin/sh",
            "-c",
            "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done",
          ],
        });
        await start(ctx, id);
        const path = (await status(ctx, id)).status!.log_path;
        await waitFor(
          "first lines",
          async () => (await Deno.readTextFile(path)).includes("line2") || undefined,
          WAIT,
        );
        await Deno.rename(path, `${path}.1`);
        await call(runtime, "ReopenContainerLog", { container_id: id });
        const fresh = await waitFor("lines in the new file", async () => {
          const t = await Deno.readTextFile(path);
          return /stdout F line\d+/.test(t) ? t : undefined;
        }, WAIT);
        const first = Number(/line(\d+)/.exec(fresh)![1]);
        const old = await Deno.readTextFile(`${path}.1`);
        assert.ok(old.includes("line0"));
        assert.ok(!fresh.includes("stdout F line0\n"), "the new file starts after rotation");
        assert.ok(first > 0);
      });

      await t.step("ListContainers and ContainerStatus spawn no runtime process", async () => {
        const before = await counter.count();
        assert.ok(before > 0, "the wrapper sees runtime calls");
        for (let i = 0; i < 100; i++) {
          const all = await call(runtime, "ListContainers", {});
          assert.equal(all.containers.length, 8);
          for (const c of all.containers) await status(ctx, c.id);
        }
        assert.equal(await counter.count(), before);
        const running = await call(runtime, "ListContainers", {
          filter: { state: { state: "CONTAINER_RUNNING" }, label_selector: { test: "container" } },
        });
        assert.deepEqual(
          running.containers.map((c) => c.metadata!.name).sort(),
          ["chatty", "client", "limited", "server"],
        );
        const bySandbox = await call(runtime, "ListContainers", {
          filter: { pod_sandbox_id: podId.slice(0, 12), id: server.slice(0, 10) },
        });
        assert.deepEqual(bySandbox.containers.map((c) => c.id), [server]);
      });

      await t.step("bad input fails with a gRPC error and leaves nothing behind", async () => {
        const root = daemon!.dirs.root;
        const snapshot = async () => ({
          meta: await listDir(join(root, "containers-meta")),
          dirs: await listDir(join(root, "containers")),
          mounts: (await mountsUnder(join(root, "containers"))).length,
          runc: await listDir(join(daemon!.dirs.runroot, "runc")),
          count: (await call(runtime, "ListContainers", {})).containers.length,
          // conmon opens a container's log before the runtime runs: a failed create removes it.
          logs: (await Array.fromAsync(walk(daemon!.dirs.logDir))).sort(),
        });
        const before = await snapshot();
        const other = podConfig("stopped");
        const stoppedPod = (await call(runtime, "RunPodSandbox", { config: other }, {
          deadlineMs: 60_000,
        })).pod_sandbox_id;
        await call(runtime, "StopPodSandbox", { pod_sandbox_id: stoppedPod });
        const base = {
          metadata: { name: "bad", attempt: 0 },
          image: { image },
          command: ["/bin/true"],
        };
        const cases: [string, cri.CreateContainerRequestInit, grpc.status][] = [
          [
            "no such sandbox",
            { pod_sandbox_id: "0".repeat(64), config: base },
            grpc.status.NOT_FOUND,
          ],
          [
            "sandbox not ready",
            { pod_sandbox_id: stoppedPod, config: base },
            grpc.status.FAILED_PRECONDITION,
          ],
          [
            "unknown image",
            {
              pod_sandbox_id: podId,
              config: { ...base, image: { image: `${registry.host}/it4/none:1` } },
            },
            grpc.status.NOT_FOUND,
          ],
          [
            "duplicate name",
            {
              pod_sandbox_id: podId,
              config: { ...base, metadata: { name: "server", attempt: 0 } },
            },
            grpc.status.ALREADY_EXISTS,
          ],
          [
            "missing mount source the node does not make",
            {
              pod_sandbox_id: podId,
              config: {
                ...base,
                mounts: [{ container_path: "/x", host_path: join(hostDir, "rejected") }],
              },
            },
            grpc.status.INVALID_ARGUMENT,
          ],
          [
            "invalid resources",
            {
              pod_sandbox_id: podId,
              config: { ...base, linux: { resources: { cpu_shares: -1 } } },
            },
            grpc.status.INVALID_ARGUMENT,
          ],
        ];
        for (const [what, req, code] of cases) {
          assert.equal(await grpcCode(call(runtime, "CreateContainer", req)), code, what);
        }
        // A process that cannot start: the runtime fails at create, with its reason; nothing stays,
        // not even the missing mount source it made.
        await assert.rejects(
          call(runtime, "CreateContainer", {
            pod_sandbox_id: podId,
            config: {
              ...base,
              metadata: { name: "nobinary", attempt: 0 },
              command: ["/nope"],
              mounts: [{ container_path: "/x", host_path: join(hostDir, "gone", "sub") }],
            },
          }),
          (err: grpc.ServiceError) => {
            assert.notEqual(err.code, grpc.status.OK);
            assert.match(err.details, /\/nope/);
            return true;
          },
        );
        await call(runtime, "RemovePodSandbox", { pod_sandbox_id: stoppedPod });
        assert.deepEqual(await snapshot(), before);
        for (const made of ["rejected", "gone"]) {
          assert.equal(await exists(join(hostDir, made)), false, `${made} was left behind`);
        }
        const execUnknown = await grpcCode(
          call(runtime, "ExecSync", { container_id: "0".repeat(64), cmd: ["/bin/true"] }),
        );
        assert.equal(execUnknown, grpc.status.NOT_FOUND);
      });

      await t.step("a created container that never started is removed, twice", async () => {
        const id = await create(ctx, "never-started", { command: ["/bin/sleep", "3600"] });
        const { pid, bundle } = await info(ctx, id);
        assert.ok(alive(pid), "runc init waits in the created state");
        await call(runtime, "RemoveContainer", { container_id: id }, { deadlineMs: 30_000 });
        await call(runtime, "RemoveContainer", { container_id: id });
        assert.equal(await grpcCode(status(ctx, id)), grpc.status.NOT_FOUND);
        assert.ok(!alive(pid));
        assert.equal(await Deno.stat(bundle).then(() => true, () => false), false);
        assert.equal(
          await Deno.stat(join(daemon!.dirs.runroot, "exits", id)).then(() => true, () => false),
          false,
          "exit file removed",
        );
      });

      await t.step(
        "StopPodSandbox stops its containers; RemovePodSandbox removes them",
        async () => {
          const ids = (await call(runtime, "ListContainers", {})).containers.map((c) => c.id);
          const pids = await Promise.all(ids.map(async (id) => (await info(ctx, id)).conmonPid));
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: podId }, { deadlineMs: 60_000 });
          const states = await call(runtime, "ListContainers", {});
          assert.ok(states.containers.every((c) => c.state === "CONTAINER_EXITED"));
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: podId }, {
            deadlineMs: 60_000,
          });
          assert.deepEqual((await call(runtime, "ListContainers", {})).containers, []);
          const root = daemon!.dirs.root;
          assert.deepEqual(await listDir(join(root, "containers-meta")), []);
          assert.deepEqual(await listDir(join(root, "containers")), []);
          assert.deepEqual(await listDir(join(daemon!.dirs.runroot, "exits")), []);
          assert.deepEqual(await listDir(join(daemon!.dirs.runroot, "runc")), []);
          assert.deepEqual(await mountsUnder(join(root, "containers")), []);
          assert.deepEqual(await pidsMentioning(join(root, "containers")), []);
          // conmon exits just after it writes the exit file: give it a moment.
          await waitFor(
            "conmon processes to end",
            () => Promise.resolve(pids.every((p) => !alive(p)) || undefined),
            WAIT,
          );
        },
      );

      const report = Object.entries(latencies).map(([rpc, xs]) =>
        `${rpc}: median ${median(xs).toFixed(1)} ms over ${xs.length}`
      );
      console.log(`Client-side latency: ${report.join("; ")}`);
    } finally {
      await daemon?.cleanup();
      await Deno.remove(toolDir, { recursive: true }).catch(() => {});
      await Deno.remove(hostDir, { recursive: true }).catch(() => {});
      // The pod's cgroup parent, in every hierarchy (runc removes only the containers' own).
      for (const hierarchy of await listDir("/sys/fs/cgroup")) {
        await Deno.remove(join("/sys/fs/cgroup", hierarchy, CGROUP_PARENT)).catch(() => {});
      }
    }
  },
});
