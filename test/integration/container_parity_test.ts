/**
 * Behaviours CRI-O's bats suite and containerd's CRI integration tests check and ocid's other
 * tests did not: the partial-line tags of the CRI log format, a node-PID container's children
 * at its exit, `pid` TARGET (kubectl debug --target), a failed create's log file, the pod's
 * files under a read-only rootfs, the working directory, and a conmon that dies. Each step
 * names the test it ports. All but the last passed when written (ocid hands these to conmon,
 * runc and its spec builder): they guard what those give the kubelet.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { exists } from "../../src/exists.ts";
import { alive, grpcCode, ipamReservations, waitFor } from "../helpers/checks.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  type TestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt56";
const SUBNET = "10.234.56.0/24";
const CGROUP_PARENT = "/ocid-it56";
const WAIT = { timeoutMs: 20_000 };

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The host PIDs whose command line is exactly `cmdline` (NUL-separated words). */
async function pidsRunning(cmdline: string[]): Promise<number[]> {
  const want = cmdline.join("\0") + "\0";
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const got = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (got === want) out.push(Number(e.name));
  }
  return out;
}

Deno.test({
  name: "containers behave as CRI-O's and containerd's suites expect: logs, PID namespaces, " +
    "failed creates, read-only pod files, working directory, dead monitors",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const { daemon, image } = await startDaemonWithBusybox(registry.host, {
      repo: "it56/busybox",
      bridge: BRIDGE,
      subnet: SUBNET,
    });
    const logDir = await Deno.makeTempDir({ prefix: "ocid-it56-logs-" });
    const { runtime } = daemon.clients;
    try {
      const podOf = async (name: string, pid: "CONTAINER" | "NODE" | "POD" = "CONTAINER") => {
        const config = testPodConfig(name, { namespace: "it56", cgroupParent: CGROUP_PARENT, pid });
        config.log_directory = join(logDir, name);
        return await runTestPod(runtime, config);
      };
      const pod = await podOf("parity");
      const run = async (
        p: TestPod,
        name: string,
        command: string[],
        config: cri.ContainerConfigInit = {},
      ) => {
        const id = await createTestContainer(runtime, p, { name, image, command, config });
        await call(runtime, "StartContainer", { container_id: id });
        return id;
      };
      const status = async (id: string) =>
        (await call(runtime, "ContainerStatus", { container_id: id })).status!;
      const exited = (id: string) =>
        waitFor(`${id} to exit`, async () => {
          const st = await status(id);
          return st.state === "CONTAINER_EXITED" ? st : undefined;
        }, WAIT);
      const log = async (id: string) => await Deno.readTextFile((await status(id)).log_path);
      const exec = (id: string, cmd: string[]) =>
        call(runtime, "ExecSync", { container_id: id, cmd, timeout: 10 }, { deadlineMs: 30_000 });

      await t.step(
        "output without a newline is a partial (P) record; a line longer than conmon's buffer is P records ending in F (containerd's TestContainerLogWithoutTailingNewLine, TestLongContainerLog; CRI-O's 'ctr partial line logging')",
        async () => {
          const partial = await run(pod, "partial", ["/bin/sh", "-c", "printf abcd"]);
          await exited(partial);
          assert.match(await log(partial), /^\S+ stdout P abcd\n$/);

          const size = 20_000;
          const long = await run(pod, "long", [
            "/bin/sh",
            "-c",
            `head -c ${size} /dev/zero | tr '\\0' a; echo; echo after`,
          ]);
          await exited(long);
          const records = (await log(long)).split("\n").filter((l) => l !== "").map((l) => {
            const m = /^\S+ stdout ([PF]) (.*)$/.exec(l);
            assert.ok(m, `not a CRI log record: ${l.slice(0, 80)}`);
            return { tag: m[1]!, text: m[2]! };
          });
          const last = records.at(-1)!;
          assert.deepEqual(last, { tag: "F", text: "after" });
          const line = records.slice(0, -1);
          assert.ok(line.length > 1, "the long line is split");
          assert.ok(line.slice(0, -1).every((r) => r.tag === "P"), "P records before the last");
          assert.equal(line.at(-1)!.tag, "F", "the line ends with an F record");
          assert.equal(line.map((r) => r.text).join(""), "a".repeat(size));
        },
      );

      await t.step(
        "a TTY container's output is logged, its lines ending in \\r (CRI-O's 'ctr logging [tty=true]')",
        async () => {
          const id = await run(pod, "tty", ["/bin/echo", "hi"], { tty: true });
          await exited(id);
          assert.match(await log(id), /^\S+ stdout F hi\r\n$/);
        },
      );

      await t.step(
        "a container in the node's PID namespace leaves no child behind when its init is killed (CRI-O's 'ctr with node level pid namespace should not leak children')",
        async () => {
          const nodePod = await podOf("nodepid", "NODE");
          const child = ["sleep", "61234"];
          const id = await run(nodePod, "leaky", [
            "/bin/sh",
            "-c",
            `${child.join(" ")} & exec sleep 62345`,
          ]);
          const [childPid] = await waitFor(
            "the background child",
            async () => {
              const pids = await pidsRunning(child);
              return pids.length > 0 ? pids : undefined;
            },
            WAIT,
          );
          const init = (await pidsRunning(["sleep", "62345"]))[0];
          assert.ok(init, "the init runs in the node's PID namespace");
          Deno.kill(init, "SIGKILL");
          const st = await exited(id);
          assert.equal(st.exit_code, 137);
          await waitFor(
            "the child to be gone",
            () => Promise.resolve(!alive(childPid!) || undefined),
            WAIT,
          );
          assert.equal((await status(id)).state, "CONTAINER_EXITED", "not removed meanwhile");
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: nodePod.id });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: nodePod.id });
        },
      );

      await t.step(
        "pid TARGET joins a running container's PID namespace (kubectl debug --target; CRI-O's 'pid namespace mode target test')",
        async () => {
          /** A config joining `target`'s PID namespace, as the kubelet makes for kubectl debug. */
          const joining = (target: string): cri.ContainerConfigInit => ({
            linux: {
              security_context: {
                namespace_options: { network: "POD", pid: "TARGET", ipc: "POD", target_id: target },
              },
            },
          });
          const target = await run(pod, "target", ["sleep", "63456"]);
          const debug = await run(pod, "debug", ["sleep", "600"], joining(target));
          const ps = await exec(debug, [
            "/bin/sh",
            "-c",
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done",
          ]);
          assert.equal(ps.exit_code, 0, text(ps.stderr));
          assert.match(text(ps.stdout), /^sleep 63456 $/m, "the target's process is seen");
          const init = await exec(debug, ["/bin/sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"]);
          assert.equal(text(init.stdout), "sleep 63456 ", "the target is PID 1 of the namespace");

          // A target in another pod, or one not running, cannot be joined.
          const other = await podOf("other");
          const elsewhere = await createTestContainer(runtime, other, {
            name: "elsewhere",
            image,
            command: ["sleep", "600"],
            config: joining(target),
          }).then(() => undefined, (e: grpc.ServiceError) => e);
          assert.equal(elsewhere?.code, grpc.status.NOT_FOUND, String(elsewhere?.details));
          const created = await createTestContainer(runtime, pod, {
            name: "created",
            image,
            command: ["sleep", "600"],
          });
          const notRunning = await grpcCode(createTestContainer(runtime, pod, {
            name: "debug2",
            image,
            command: ["sleep", "600"],
            config: joining(created),
          }));
          assert.equal(notRunning, grpc.status.FAILED_PRECONDITION);
          for (const id of [debug, target, created]) {
            await call(runtime, "RemoveContainer", { container_id: id });
          }
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: other.id });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: other.id });
        },
      );

      await t.step(
        "a CreateContainer that fails leaves no log file, and the name can be used again (CRI-O's 'ctr log cleaned up if container create failed')",
        async () => {
          const code = await grpcCode(
            createTestContainer(runtime, pod, { name: "nobin", image, command: ["/nonexistent"] }),
          );
          assert.notEqual(code, grpc.status.OK);
          assert.equal(await exists(join(logDir, "parity", "nobin", "0.log")), false);
          const id = await createTestContainer(runtime, pod, {
            name: "nobin",
            image,
            command: ["true"],
          });
          await call(runtime, "RemoveContainer", { container_id: id });
        },
      );

      await t.step(
        "with readonly_rootfs the pod's /etc/resolv.conf, /etc/hosts and /etc/hostname are read-only too; without it they are writable (CRI-O's 'ctr /etc/resolv.conf rw/ro mode')",
        async () => {
          const write = "for f in /etc/resolv.conf /etc/hosts /etc/hostname; do " +
            "echo '# test' >> $f && echo $f ok || echo $f refused; done";
          const rw = await run(pod, "rw-files", ["sleep", "600"]);
          const ro = await run(pod, "ro-files", ["sleep", "600"], {
            linux: { security_context: { readonly_rootfs: true } },
          });
          const rwOut = text((await exec(rw, ["/bin/sh", "-c", write])).stdout);
          const roOut = text((await exec(ro, ["/bin/sh", "-c", write])).stdout);
          for (const f of ["/etc/resolv.conf", "/etc/hosts", "/etc/hostname"]) {
            assert.match(rwOut, new RegExp(`^${f} ok$`, "m"), rwOut);
            assert.match(roOut, new RegExp(`^${f} refused$`, "m"), roOut);
          }
          for (const id of [rw, ro]) {
            await call(runtime, "RemoveContainer", { container_id: id });
          }
        },
      );

      await t.step(
        "a missing working_dir is made; one that is a file is refused (CRI-O's 'ctr correctly setup working directory')",
        async () => {
          const made = await run(pod, "wd-made", ["sleep", "600"], { working_dir: "/made/here" });
          const pwd = await exec(made, ["/bin/sh", "-c", "pwd"]);
          assert.equal(text(pwd.stdout), "/made/here\n", text(pwd.stderr));
          const err = await (async () => {
            const id = await createTestContainer(runtime, pod, {
              name: "wd-file",
              image,
              command: ["sleep", "600"],
              config: { working_dir: "/etc/passwd" },
            });
            await call(runtime, "StartContainer", { container_id: id });
          })().then(() => undefined, (e: grpc.ServiceError) => e);
          assert.ok(err, "a file as working directory was accepted");
          assert.match(err.details, /not a directory/);
          await call(runtime, "RemoveContainer", { container_id: made });
        },
      );

      await t.step(
        "a pod that names no hostname gets the node's, as under containerd and CRI-O (a pod name is no hostname: this one is 70 characters)",
        async () => {
          const config = testPodConfig("n".repeat(70), {
            namespace: "it56",
            cgroupParent: CGROUP_PARENT,
          });
          config.hostname = "";
          config.log_directory = join(logDir, "nameless");
          const nameless = await runTestPod(runtime, config);
          const id = await run(nameless, "host", ["sleep", "600"]);
          const out = await exec(id, [
            "/bin/sh",
            "-c",
            "hostname; cat /etc/hostname; echo $HOSTNAME",
          ]);
          const node = Deno.hostname();
          assert.equal(text(out.stdout), `${node}\n${node}\n${node}\n`, text(out.stderr));
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: nameless.id });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: nameless.id });
        },
      );

      await t.step(
        "a pod whose network namespace was removed behind ocid's back still stops and gives its IP back (containerd's TestSandboxRemoveWithoutIPLeakage)",
        async () => {
          const leaky = await podOf("netns-gone");
          const st = await call(runtime, "PodSandboxStatus", {
            pod_sandbox_id: leaky.id,
            verbose: true,
          });
          const ip = st.status!.network!.ip;
          const netnsPath: string = JSON.parse(st.info.info!).netnsPath;
          assert.ok((await ipamReservations(daemon.dirs.cniDataDir)).includes(ip), ip);
          await new Deno.Command("umount", { args: [netnsPath] }).output();
          await Deno.remove(netnsPath);
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: leaky.id });
          assert.ok(!(await ipamReservations(daemon.dirs.cniDataDir)).includes(ip), "IP kept");
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: leaky.id });
        },
      );

      await t.step(
        "a container whose conmon dies is killed and reported exited (255, Unknown), and a pod whose infra conmon dies goes NOTREADY, as containerd does when a shim dies",
        async () => {
          const infraPod = await podOf("monitored", "POD");
          const id = await run(infraPod, "orphaned", ["sleep", "64567"]);
          const info = JSON.parse(
            (await call(runtime, "ContainerStatus", { container_id: id, verbose: true })).info
              .info!,
          );
          const podInfo = JSON.parse(
            (await call(runtime, "PodSandboxStatus", {
              pod_sandbox_id: infraPod.id,
              verbose: true,
            }))
              .info.info!,
          );
          assert.ok(alive(info.pid) && alive(info.conmonPid) && alive(podInfo.conmonPid));
          Deno.kill(info.conmonPid, "SIGKILL");
          const st = await waitFor("the container to be recorded exited", async () => {
            const s = await status(id);
            return s.state === "CONTAINER_EXITED" ? s : undefined;
          }, { timeoutMs: 30_000 });
          assert.equal(st.exit_code, 255);
          assert.equal(st.reason, "Unknown");
          assert.match(st.message, /monitor \(conmon\) exited before it/);
          await waitFor(
            "its process to be gone",
            () => Promise.resolve(!alive(info.pid) || undefined),
            WAIT,
          );

          Deno.kill(podInfo.conmonPid, "SIGKILL");
          await waitFor("the pod to be NOTREADY", async () => {
            const s = await call(runtime, "PodSandboxStatus", { pod_sandbox_id: infraPod.id });
            return s.status!.state === "SANDBOX_NOTREADY" || undefined;
          }, { timeoutMs: 30_000 });
          await waitFor(
            "the infra process to be gone",
            () => Promise.resolve(!alive(podInfo.pid) || undefined),
            WAIT,
          );
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: infraPod.id });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: infraPod.id });
        },
      );

      await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
      await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
    } finally {
      await daemon.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
      await Deno.remove(logDir, { recursive: true }).catch(() => {});
    }
  },
});
