/**
 * Privileged pods, `ALL` capabilities, seccomp under privilege, host devices and mount
 * propagation end to end, against the real daemon with real conmon, runc, CNI bridge and the
 * test registry, on this machine, whose bounding set lacks CAP_SYS_RESOURCE. Root only.
 * Network: bridge "ocidt30", 10.234.30.0/24; no traffic leaves the test's pods.
 *
 * "All capabilities" must mean the daemon's own bounding set: asking runc for more fails with
 * "unable to apply caps: operation not permitted". The mount-propagation steps do what the CRI
 * conformance suite does (cri-tools `pkg/validate/container_linux.go`, "Container Mount
 * Propagation"): a mount made on the host under the bind source appears in the container or
 * not, and a mount made in the container appears on the host or not.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { listHostDevices } from "../../src/host/devices.ts";
import { ALL_CAPABILITIES } from "../../src/spec/default.ts";
import { sh } from "../helpers/checks.ts";
import type { TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import {
  createTestContainer,
  removeCgroupParent,
  runTestPod,
  startDaemonWithBusybox,
  type TestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt30";
const SUBNET = "10.234.30.0/24";
const CGROUP_PARENT = "/ocid-it30";
const NAMESPACE = "it30";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The `Cap*:` masks of a `/proc/<pid>/status` text, as hex strings. */
function capMasks(status: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of status.matchAll(/^(Cap\w+):\s*([0-9a-f]+)$/gm)) out[m[1]!] = m[2]!;
  return out;
}

async function execSync(runtime: grpc.Client, id: string, cmd: string[]) {
  const res = await call(runtime, "ExecSync", { container_id: id, cmd, timeout: 20 }, {
    deadlineMs: 60_000,
  });
  return { stdout: text(res.stdout), stderr: text(res.stderr), code: res.exit_code };
}

/** Runs `cmd` in the container and fails with its output unless it exits 0. */
async function execOk(runtime: grpc.Client, id: string, cmd: string[]): Promise<string> {
  const r = await execSync(runtime, id, cmd);
  assert.equal(r.code, 0, `${cmd.join(" ")}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** A seccomp profile (OCI form) that makes sethostname fail with EOPNOTSUPP. */
const NO_SETHOSTNAME = {
  defaultAction: "SCMP_ACT_ALLOW",
  syscalls: [{ names: ["sethostname"], action: "SCMP_ACT_ERRNO", errnoRet: 95 }],
};

/** Mount options of the mount at `target` in a mountinfo text (field 6, per mount). */
function mountOptions(mountinfo: string, target: string): string[] | undefined {
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    if (f[4] === target) return f[5]!.split(",");
  }
  return undefined;
}

Deno.test({
  name: "privileged pods and containers, ALL capabilities, seccomp, devices, mount propagation",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    let daemon: TestDaemon | undefined;
    const scratch = await Deno.makeTempDir({ prefix: "ocid-it30-" });
    try {
      const started = await startDaemonWithBusybox(registry.host, {
        repo: `${NAMESPACE}/busybox`,
        bridge: BRIDGE,
        subnet: SUBNET,
      });
      daemon = started.daemon;
      const { image } = started;
      const runtime = daemon.clients.runtime;
      const daemonCaps = capMasks(await Deno.readTextFile(`/proc/${daemon.pid}/status`));
      const bounding = daemonCaps.CapBnd!;
      assert.ok(bounding, "the daemon's CapBnd");
      const missing = ALL_CAPABILITIES.filter((_, bit) =>
        ((BigInt(`0x${bounding}`) >> BigInt(bit)) & 1n) === 0n
      );
      if (missing.length > 0) {
        // this machine lacks CAP_SYS_RESOURCE; the daemon says so when it starts
        assert.match(daemon.output(), new RegExp(`missing=${missing.join(",")}`));
      }
      const profile = join(scratch, "no-sethostname.json");
      await Deno.writeTextFile(profile, JSON.stringify(NO_SETHOSTNAME));

      const podConfig = (name: string, privileged: boolean): cri.PodSandboxConfigInit => {
        const config = testPodConfig(name, { namespace: NAMESPACE, cgroupParent: CGROUP_PARENT });
        config.linux!.security_context!.privileged = privileged;
        return config;
      };
      const start = async (pod: TestPod, name: string, config: cri.ContainerConfigInit) => {
        const id = await createTestContainer(runtime, pod, {
          name,
          image,
          command: ["/bin/sh", "-c", "exec sleep 3600"],
          config,
        });
        await call(runtime, "StartContainer", { container_id: id }, { deadlineMs: 60_000 });
        return id;
      };
      const privileged = { linux: { security_context: { privileged: true } } };

      let privPod: TestPod | undefined;
      let infraPod: TestPod | undefined;
      let privCtr = "";
      await t.step("a privileged pod's infra process holds the daemon's bounding set", async () => {
        // Only a pod sharing its PID namespace has an infra process (drop_infra_ctr).
        const infraConfig = podConfig("priv-infra", true);
        infraConfig.linux!.security_context!.namespace_options = {
          ...infraConfig.linux!.security_context!.namespace_options,
          pid: "POD",
        };
        infraPod = await runTestPod(runtime, infraConfig);
        privPod = await runTestPod(runtime, podConfig("priv", true));
        const status = await call(runtime, "PodSandboxStatus", {
          pod_sandbox_id: infraPod!.id,
          verbose: true,
        });
        const { pid } = JSON.parse(status.info.info!);
        const caps = capMasks(await Deno.readTextFile(`/proc/${pid}/status`));
        assert.equal(caps.CapBnd, bounding);
        assert.equal(caps.CapEff, bounding);
      });

      await t.step("a privileged container's /proc/1 holds the daemon's bounding set", async () => {
        privCtr = await start(privPod!, "priv", privileged);
        const caps = capMasks(await execOk(runtime, privCtr, ["cat", "/proc/1/status"]));
        assert.equal(caps.CapBnd, bounding);
        assert.equal(caps.CapEff, bounding);
        assert.equal(caps.CapPrm, bounding);
        const exec = capMasks(await execOk(runtime, privCtr, ["cat", "/proc/self/status"]));
        assert.equal(exec.CapEff, bounding, "an exec'd process too");
      });

      const plainPod = await runTestPod(runtime, podConfig("plain", false));
      await t.step("add_capabilities ALL in an unprivileged pod: the bounding set", async () => {
        const id = await start(plainPod, "all", {
          linux: {
            security_context: {
              capabilities: { add_capabilities: ["ALL"], drop_capabilities: [] },
            },
          },
        });
        const caps = capMasks(await execOk(runtime, id, ["cat", "/proc/1/status"]));
        assert.equal(caps.CapBnd, bounding);
        assert.equal(caps.CapEff, bounding);
      });

      await t.step("drop ALL then add one: that one only", async () => {
        const id = await start(plainPod, "one", {
          linux: {
            security_context: {
              capabilities: { add_capabilities: ["SYS_ADMIN"], drop_capabilities: ["ALL"] },
            },
          },
        });
        const caps = capMasks(await execOk(runtime, id, ["cat", "/proc/1/status"]));
        assert.equal(BigInt(`0x${caps.CapBnd}`), 1n << 21n, "CAP_SYS_ADMIN is bit 21");
      });

      await t.step("a capability the host lacks is refused with FAILED_PRECONDITION", async () => {
        await assert.rejects(
          start(plainPod, "lacking", {
            linux: {
              security_context: {
                capabilities: { add_capabilities: ["SYS_RESOURCE"], drop_capabilities: [] },
              },
            },
          }),
          (e: { code?: number; details?: string }) => {
            assert.equal(e.code, 9, String(e.details));
            assert.match(String(e.details), /CAP_SYS_RESOURCE.*bounding set/);
            return true;
          },
        );
        const { containers } = await call(runtime, "ListContainers", {});
        assert.ok(!containers.some((c) => c.metadata?.name === "lacking"), "nothing left behind");
      });

      await t.step(
        "a seccomp profile blocking sethostname is ignored when privileged",
        async () => {
          const seccomp = { profile_type: "Localhost" as const, localhost_ref: profile };
          const id = await start(privPod!, "priv-seccomp", {
            linux: { security_context: { privileged: true, seccomp } },
          });
          await execOk(runtime, id, ["sh", "-c", "hostname renamed-by-priv"]);
          assert.equal(
            (await execOk(runtime, id, ["sh", "-c", "hostname"])).trim(),
            "renamed-by-priv",
          );
          const status = await execOk(runtime, id, ["cat", "/proc/1/status"]);
          assert.match(status, /^Seccomp:\s*0$/m, "no filter at all");
        },
      );

      await t.step("and enforced when not privileged", async () => {
        const seccomp = { profile_type: "Localhost" as const, localhost_ref: profile };
        const capabilities = { add_capabilities: ["SYS_ADMIN"], drop_capabilities: [] };
        const blocked = await start(plainPod, "seccomp", {
          linux: { security_context: { capabilities, seccomp } },
        });
        const r = await execSync(runtime, blocked, ["sh", "-c", "hostname renamed-by-plain"]);
        assert.notEqual(r.code, 0, "sethostname is blocked");
        assert.match(r.stderr + r.stdout, /not supported/i, "with the profile's errno");
        // the same container without the profile may (so the profile is what blocks it)
        const control = await start(plainPod, "no-seccomp", {
          linux: { security_context: { capabilities } },
        });
        await execOk(runtime, control, ["sh", "-c", "hostname renamed-by-plain"]);
      });

      await t.step("a privileged container sees the host's devices and writable /sys", async () => {
        const host = listHostDevices().filter((d) =>
          !["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
            .includes(d.path) && d.path !== "/dev/ptmx"
        );
        assert.ok(host.length > 0, "the host has devices beyond the standard ones");
        const listing = await execOk(runtime, privCtr, [
          "sh",
          "-c",
          "find /dev -type c -o -type b",
        ]);
        const inside = new Set(listing.trim().split("\n"));
        for (const d of host) assert.ok(inside.has(d.path), `${d.path} in the container`);
        const mountinfo = await execOk(runtime, privCtr, ["cat", "/proc/self/mountinfo"]);
        for (const target of ["/sys", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu"]) {
          const opts = mountOptions(mountinfo, target);
          assert.ok(opts?.includes("rw"), `${target} is read-write: ${opts}`);
        }
        assert.equal(mountOptions(mountinfo, "/proc/sys"), undefined, "/proc/sys not read-only");
        assert.equal(mountOptions(mountinfo, "/proc/kcore"), undefined, "/proc/kcore not masked");
        // writes: the pod's own loopback MTU, unchanged, and a child of the container's cgroup
        await execOk(runtime, privCtr, [
          "sh",
          "-c",
          "m=$(cat /sys/class/net/lo/mtu) && echo $m > /sys/class/net/lo/mtu && " +
          "mkdir /sys/fs/cgroup/memory/probe && rmdir /sys/fs/cgroup/memory/probe",
        ]);

        const plain = await start(plainPod, "plain", {});
        const plainInfo = await execOk(runtime, plain, ["cat", "/proc/self/mountinfo"]);
        assert.ok(mountOptions(plainInfo, "/sys")?.includes("ro"), "unprivileged: /sys read-only");
        const denied = await execSync(runtime, plain, [
          "sh",
          "-c",
          "mkdir /sys/fs/cgroup/memory/x",
        ]);
        assert.match(
          denied.stderr,
          /Read-only file system/,
          `unprivileged: cgroupfs read-only: ${JSON.stringify(denied)}`,
        );
        const plainDevs = await execOk(runtime, plain, ["sh", "-c", "find /dev -type b"]);
        assert.equal(plainDevs.trim(), "", "unprivileged: no host block devices");
      });

      const modes = [
        ["PROPAGATION_PRIVATE", false, false],
        ["PROPAGATION_BIDIRECTIONAL", true, true],
        ["PROPAGATION_HOST_TO_CONTAINER", true, false],
      ] as const;
      for (const [propagation, hostToContainer, containerToHost] of modes) {
        await t.step(`mount propagation ${propagation}, as critest checks it`, async () => {
          const hostPath = await Deno.makeTempDir({ dir: scratch, prefix: "prop-" });
          const mntSource = join(hostPath, "mnt");
          const propagationMntPoint = join(mntSource, "propagationMnt");
          const propagationSrcDir = join(hostPath, "propagationSrcDir");
          await Deno.mkdir(propagationMntPoint, { recursive: true });
          await Deno.mkdir(propagationSrcDir);
          await Deno.writeTextFile(join(propagationSrcDir, "flagFile"), "");
          await sh("mount", "--rbind", mntSource, mntSource);
          try {
            await sh(
              "mount",
              propagation === "PROPAGATION_PRIVATE" ? "--make-rprivate" : "--make-rshared",
              mntSource,
            );
            const id = await start(privPod!, `prop-${propagation.toLowerCase()}`, {
              ...privileged,
              mounts: [{ host_path: mntSource, container_path: mntSource, propagation }],
            });
            const { status } = await call(runtime, "ContainerStatus", { container_id: id });
            assert.equal(status!.mounts.length, 1);
            assert.equal(status!.mounts[0]!.propagation, propagation);
            assert.equal(status!.mounts[0]!.readonly, false);

            await sh("mount", "--rbind", propagationSrcDir, propagationMntPoint);
            const seen = await execOk(runtime, id, ["ls", "-A", propagationMntPoint]);
            assert.equal(seen.trim() !== "", hostToContainer, `host mount seen inside: "${seen}"`);

            const containerMntPoint = join(mntSource, "containerMntPoint");
            await execOk(runtime, id, ["sh", "-c", `mkdir -p ${containerMntPoint}`]);
            await execOk(runtime, id, ["sh", "-c", `mount --bind /etc ${containerMntPoint}`]);
            const onHost = [...Deno.readDirSync(containerMntPoint)];
            assert.equal(onHost.length > 0, containerToHost, "container mount seen on the host");
          } finally {
            await sh("umount", "-l", propagationMntPoint).catch(() => {});
            await sh("umount", "-l", mntSource).catch(() => {});
            await Deno.remove(hostPath, { recursive: true }).catch(() => {});
          }
        });
      }

      await t.step(
        "rshared or rslave on a source that is not shared is FAILED_PRECONDITION",
        async () => {
          // as containerd and CRI-O refuse it; runc would start and propagate nothing
          const hostPath = await Deno.makeTempDir({ dir: scratch, prefix: "private-" });
          await sh("mount", "--bind", hostPath, hostPath);
          try {
            await sh("mount", "--make-private", hostPath);
            for (
              const propagation of [
                "PROPAGATION_BIDIRECTIONAL",
                "PROPAGATION_HOST_TO_CONTAINER",
              ] as const
            ) {
              await assert.rejects(
                start(privPod!, `refused-${propagation.toLowerCase()}`, {
                  ...privileged,
                  mounts: [{ host_path: hostPath, container_path: "/mnt", propagation }],
                }),
                (e: { code?: number; details?: string }) => {
                  assert.equal(e.code, 9, String(e.details));
                  assert.match(
                    String(e.details),
                    new RegExp(`mount "${hostPath}", which is private`),
                  );
                  return true;
                },
              );
            }
            const { containers } = await call(runtime, "ListContainers", {});
            assert.ok(!containers.some((c) => c.metadata?.name.startsWith("refused-")));
            // a slave of a shared mount will do for rslave
            await sh("mount", "--make-shared", hostPath);
            const slave = join(scratch, "slave");
            await Deno.mkdir(slave);
            await sh("mount", "--bind", hostPath, slave);
            try {
              await sh("mount", "--make-slave", slave);
              await start(privPod!, "slave-source", {
                ...privileged,
                mounts: [{
                  host_path: slave,
                  container_path: "/mnt",
                  propagation: "PROPAGATION_HOST_TO_CONTAINER",
                }],
              });
            } finally {
              await sh("umount", "-l", slave).catch(() => {});
            }
          } finally {
            await sh("umount", "-l", hostPath).catch(() => {});
          }
        },
      );

      await t.step("the pods stop and go", async () => {
        for (const pod of [infraPod!, privPod!, plainPod]) {
          await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
          await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, {
            deadlineMs: 60_000,
          });
        }
        assert.deepEqual((await call(runtime, "ListPodSandbox", {})).items, []);
      });
    } finally {
      await daemon?.cleanup();
      await removeCgroupParent(CGROUP_PARENT);
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  },
});
