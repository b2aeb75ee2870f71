/**
 * What the node's configuration gives every container, against the real daemon: by default a
 * container inherits the daemon's own resource limits (as under containerd's CRI plugin and
 * CRI-O), not a fixed `RLIMIT_NOFILE` of 1024 that no program in it could raise;
 * `default_ulimits` sets them for every container, `default_capabilities` the capabilities a
 * container starts from, `default_sysctls` sysctls in every pod's own namespaces (with or
 * without an infra container; a pod's own win; never on the node), and
 * `device_ownership_from_security_context` gives a container's devices to its user and group,
 * `default_env` sets variables under the container's own, `read_only` makes every rootfs
 * read-only with writable scratch tmpfs, and `seccomp_profile` is what
 * RuntimeDefault means, `pinned_images` pins images, and `image_volumes` makes (or binds) the
 * VOLUMEs an image declares for the container's user; SIGHUP reloads them (and a reload with a file that does not parse
 * changes nothing). Root only. Network: bridge "ocidt51", 10.234.51.0/24.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call } from "../../src/cri/proto.ts";
import { pushBusybox, sh, waitFor } from "../helpers/checks.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { startRegistry } from "../helpers/registry.ts";
import { buildImage, buildLayer, busyboxEntries, imageBlobs } from "../helpers/images.ts";
import { pushImage } from "../helpers/push.ts";
import {
  createTestContainer,
  execBusybox,
  removeCgroupParent,
  runTestPod,
  testPodConfig,
} from "../helpers/test_pod.ts";

const BRIDGE = "ocidt51";
const SUBNET = "10.234.51.0/24";
const CGROUP_PARENT = "/ocid-it51";

/** Soft and hard limit of one line of a `/proc/<pid>/limits` text, like "Max open files". */
function limit(limits: string, name: string): [string, string] {
  const line = limits.split("\n").find((l) => l.startsWith(name));
  assert.ok(line, `no "${name}" in\n${limits}`);
  const [soft, hard] = line.slice(name.length).trim().split(/\s+/);
  return [soft!, hard!];
}

/** The effective capabilities of a `/proc/<pid>/status` text. */
function capEff(status: string): bigint {
  const hex = /^CapEff:\s+([0-9a-f]+)$/m.exec(status)?.[1];
  assert.ok(hex, `no CapEff in\n${status}`);
  return BigInt(`0x${hex}`);
}

/** How {@linkcode readInContainer} shapes its pod and container. */
interface Shape {
  /** Capabilities the container drops. */
  drop?: string[];
  /** The pod's PID namespace mode: POD keeps the infra container. @default "CONTAINER" */
  pid?: "POD" | "CONTAINER";
  /** @default "POD" */
  network?: "POD" | "NODE";
  /** The pod's own sysctls. */
  sysctls?: Record<string, string>;
  /** The container's `run_as_user` and `run_as_group`. */
  user?: [number, number];
  /** Host device nodes given to the container, each at `/dev/x<name>`. */
  devices?: string[];
  /** The container's own environment. */
  env?: Record<string, string>;
  /** The container asks for the RuntimeDefault seccomp profile. */
  runtimeDefault?: boolean;
  /** Host directories bound into the container (container path to host path). */
  mounts?: Record<string, string>;
}

/**
 * Runs `reads` in a new running container of a new pod of `daemon` through ExecSync, each a
 * file to `cat` or the arguments of a busybox command, then removes the pod.
 *
 * @returns What each printed.
 */
async function readInContainer(
  daemon: TestDaemon,
  image: string,
  name: string,
  reads: (string | string[])[],
  shape: Shape = {},
): Promise<string[]> {
  const { runtime } = daemon.clients;
  await call(daemon.clients.image, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
  const base = testPodConfig(name, { namespace: "it51", cgroupParent: CGROUP_PARENT });
  const pod = await runTestPod(runtime, {
    ...base,
    linux: {
      ...base.linux,
      sysctls: shape.sysctls ?? {},
      security_context: {
        namespace_options: {
          network: shape.network ?? "POD",
          pid: shape.pid ?? "CONTAINER",
          ipc: "POD",
        },
      },
    },
  });
  try {
    const id = await createTestContainer(runtime, pod, {
      name,
      image,
      command: ["/bin/sleep", "3600"],
      config: {
        envs: Object.entries(shape.env ?? {}).map(([key, value]) => ({ key, value })),
        mounts: Object.entries(shape.mounts ?? {}).map(([container_path, host_path]) => ({
          container_path,
          host_path,
        })),
        devices: (shape.devices ?? []).map((path) => ({
          host_path: path,
          container_path: `/dev/x${path.split("/").at(-1)}`,
          permissions: "rw",
        })),
        linux: {
          security_context: {
            ...(shape.runtimeDefault
              ? { seccomp: { profile_type: "RuntimeDefault" as const, localhost_ref: "" } }
              : {}),
            ...(shape.user
              ? {
                run_as_user: { value: String(shape.user[0]) },
                run_as_group: { value: String(shape.user[1]) },
              }
              : {}),
            capabilities: {
              add_capabilities: [],
              drop_capabilities: shape.drop ?? [],
              add_ambient_capabilities: [],
            },
          },
        },
      },
    });
    await call(runtime, "StartContainer", { container_id: id });
    const out: string[] = [];
    for (const read of reads) {
      out.push(await execBusybox(daemon, id, ...(typeof read === "string" ? ["cat", read] : read)));
    }
    return out;
  } finally {
    await call(runtime, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
    await call(runtime, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
  }
}

const INIT = ["/proc/1/limits", "/proc/1/status"];

/** What ListImages and ImageStatus say of `image`'s `pinned`. */
async function pinned(daemon: TestDaemon, image: string): Promise<boolean[]> {
  const list = await call(daemon.clients.image, "ListImages", { filter: { image: { image } } });
  const status = await call(daemon.clients.image, "ImageStatus", { image: { image } });
  return [list.images[0]?.pinned ?? false, status.image?.pinned ?? false];
}
/** A device node owned by root on every machine, as the container sees it. */
const DEVICE = { devices: ["/dev/null"], user: [1234, 5678] as [number, number] };
const DEVICE_OWNER = [["stat", "-c", "%u %g", "/dev/xnull"]];
const SYSCTLS = [
  "/proc/sys/net/ipv4/ip_unprivileged_port_start",
  "/proc/sys/kernel/shm_rmid_forced",
];

/** The node's value of a sysctl (`net/ipv4/...`). */
async function hostSysctl(path: string): Promise<string> {
  return (await Deno.readTextFile(`/proc/sys/${path}`)).trim();
}

/** "1" for "0", else "0": a value the node does not have. */
function flip(value: string): string {
  return value === "0" ? "1" : "0";
}

Deno.test({
  name:
    "Every pod and container gets the node's defaults: limits, capabilities, sysctls, devices, env, seccomp, pins",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const image = await pushBusybox(registry.host, "it51/busybox");
    // An image that declares VOLUME /data/db without making /data.
    const declaring = buildImage([await buildLayer(await busyboxEntries())], {
      volumes: ["/data/db"],
    });
    await pushImage(registry.host, "it51/volumes", "1", {
      blobs: imageBlobs(declaring),
      manifest: declaring.manifest,
    });
    const volumes = `${registry.host}/it51/volumes:1`;
    const VOLUME = [["sh", "-c", "echo x > /data/db/f && stat -c '%u %g' /data/db"]];
    const VOLUME_MOUNTED = [["sh", "-c", "grep -c ' /data/db ' /proc/self/mountinfo || true"]];
    const hostPortStart = await hostSysctl("net/ipv4/ip_unprivileged_port_start");
    const hostShmRmid = await hostSysctl("kernel/shm_rmid_forced");
    try {
      await t.step("by default a container has the daemon's limits, not 1024", async () => {
        const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
        try {
          // Limits no test machine has by chance; conmon and runc, spawned later, inherit them.
          await sh("prlimit", `--pid=${daemon.pid}`, "--nofile=3001:7001", "--nproc=5001:6001");
          const [limits = "", status = ""] = await readInContainer(daemon, image, "inherits", INIT);
          // The soft one raised to the hard one by runc (1.1.5), whose Go runtime raises its
          // own at start and hands it on: `prlimit --nofile=3001:7001 runc run` shows 7001 too.
          assert.deepEqual(limit(limits, "Max open files"), ["7001", "7001"]);
          assert.deepEqual(limit(limits, "Max processes"), ["5001", "6001"]);
          // containerd's 14 capabilities.
          assert.equal(capEff(status), 0xa80425fbn);
          // The built-in RuntimeDefault lets mkdir be.
          const mkdir = ["sh", "-c", "mkdir /tmp/x && echo made"];
          assert.deepEqual(
            await readInContainer(daemon, image, "seccomp", [mkdir], { runtimeDefault: true }),
            ["made"],
          );
          // Not pinned: kubelet's image GC may remove it.
          assert.deepEqual(await pinned(daemon, image), [false, false]);
          // A device keeps the host node's owner.
          assert.deepEqual(await readInContainer(daemon, image, "dev", DEVICE_OWNER, DEVICE), [
            "0 0",
          ]);
          // image_volumes = "mkdir": the image's VOLUME is made, the container's user owns it.
          const user = { user: [1234, 5678] as [number, number] };
          assert.deepEqual(
            await readInContainer(daemon, volumes, "volume", [...VOLUME, ...VOLUME_MOUNTED], user),
            ["1234 5678", "0"],
          );
        } finally {
          await daemon.cleanup();
        }
      });

      // The node's RuntimeDefault: everything but mkdir, which fails with EPERM.
      const profileDir = await Deno.makeTempDir({ prefix: "ocid-it51-seccomp-" });
      const profile = `${profileDir}/node.json`;
      await Deno.writeTextFile(
        profile,
        JSON.stringify({
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
        }),
      );
      await t.step(
        "the node's limits, capabilities, sysctls, env, devices, seccomp apply to every one",
        async () => {
          const daemon = await startDaemon({
            bridge: BRIDGE,
            subnet: SUBNET,
            config: `default_ulimits = ["nofile=1500:2500", "nproc=4000"]\n` +
              `default_capabilities = ["CHOWN", "kill", "CAP_NET_BIND_SERVICE"]\n` +
              `default_sysctls = ["net.ipv4.ip_unprivileged_port_start=101", ` +
              `"kernel.shm_rmid_forced=${flip(hostShmRmid)}"]\n` +
              `device_ownership_from_security_context = true\n` +
              `default_env = ["OCID_NODE=node", "OCID_POD=node"]\n` +
              `seccomp_profile = "${profile}"\n` +
              `[image]\npinned_images = ["*it51/busybox*"]\nimage_volumes = "bind"\n`,
          });
          try {
            const [limits = "", status = ""] = await readInContainer(
              daemon,
              image,
              "configured",
              INIT,
              { drop: ["KILL"] },
            );
            assert.deepEqual(limit(limits, "Max open files"), ["1500", "2500"]);
            assert.deepEqual(limit(limits, "Max processes"), ["4000", "4000"]);
            // CHOWN (0) and NET_BIND_SERVICE (10); KILL (5) dropped by the container's request.
            assert.equal(capEff(status), (1n << 0n) | (1n << 10n));

            // default_env, under the request's variables.
            const echo = ["sh", "-c", "echo $OCID_NODE $OCID_POD"];
            assert.deepEqual(
              await readInContainer(daemon, image, "env", [echo], { env: { OCID_POD: "pod" } }),
              [
                "node pod",
              ],
            );

            // image_volumes = "bind": a directory of the container's own, bound there.
            assert.deepEqual(
              await readInContainer(daemon, volumes, "volume", [...VOLUME, ...VOLUME_MOUNTED], {
                user: [1234, 5678],
              }),
              ["1234 5678", "1"],
            );

            // pinned_images: ListImages and ImageStatus say so.
            assert.deepEqual(await pinned(daemon, image), [true, true]);

            // seccomp_profile: what RuntimeDefault means on this node.
            const mkdir = ["sh", "-c", "mkdir /tmp/x 2>&1 || true"];
            assert.deepEqual(
              await readInContainer(daemon, image, "seccomp", [mkdir], { runtimeDefault: true }),
              ["mkdir: can't create directory '/tmp/x': Operation not permitted"],
            );

            // device_ownership_from_security_context: the container's user and group own it.
            assert.deepEqual(await readInContainer(daemon, image, "dev", DEVICE_OWNER, DEVICE), [
              "1234 5678",
            ]);

            // default_sysctls, in a pod without an infra container and in one with it.
            for (const pid of ["CONTAINER", "POD"] as const) {
              assert.deepEqual(
                await readInContainer(daemon, image, `sysctls-${pid}`, SYSCTLS, { pid }),
                ["101", flip(hostShmRmid)],
                `pid ${pid}`,
              );
              // The pod's own sysctl wins over the node's default.
              assert.deepEqual(
                await readInContainer(daemon, image, `own-${pid}`, SYSCTLS, {
                  pid,
                  sysctls: { "net.ipv4.ip_unprivileged_port_start": "102" },
                }),
                ["102", flip(hostShmRmid)],
                `pid ${pid}`,
              );
            }
            // On the host network the net.* default is left out: the node keeps its value.
            assert.deepEqual(
              await readInContainer(daemon, image, "host-net", SYSCTLS, { network: "NODE" }),
              [hostPortStart, flip(hostShmRmid)],
            );
            assert.equal(await hostSysctl("net/ipv4/ip_unprivileged_port_start"), hostPortStart);
            assert.equal(await hostSysctl("kernel/shm_rmid_forced"), hostShmRmid);
          } finally {
            await daemon.cleanup();
            await Deno.remove(profileDir, { recursive: true });
          }
        },
      );

      await t.step("read_only: a read-only rootfs, writable /run, /tmp, /var/tmp", async () => {
        const daemon = await startDaemon({
          bridge: BRIDGE,
          subnet: SUBNET,
          config: "read_only = true\n",
        });
        const hostTmp = await Deno.makeTempDir({ prefix: "ocid-it51-tmp-" });
        try {
          const probe = [
            "sh",
            "-c",
            "touch /x 2>&1 | grep -o 'Read-only file system'; " +
            'for d in /run /tmp /var/tmp; do touch $d/x && stat -c "$d %a" $d; done; ' +
            "grep -c ' /tmp tmpfs ' /proc/self/mounts",
          ];
          assert.deepEqual(await readInContainer(daemon, image, "ro", [probe]), [
            "Read-only file system\n/run 755\n/tmp 1777\n/var/tmp 1777\n1",
          ]);
          // The request's own mount at /tmp wins over the tmpfs.
          const own = [
            "sh",
            "-c",
            "echo mine > /tmp/own && (grep -c ' /tmp tmpfs ' /proc/self/mounts || true)",
          ];
          assert.deepEqual(
            await readInContainer(daemon, image, "own", [own], { mounts: { "/tmp": hostTmp } }),
            ["0"],
          );
          assert.equal(await Deno.readTextFile(join(hostTmp, "own")), "mine\n");
        } finally {
          await daemon.cleanup();
          await Deno.remove(hostTmp, { recursive: true });
        }
      });

      await t.step(
        "SIGHUP reloads the node defaults; a bad file in the reload changes nothing",
        async () => {
          const daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
          const confPath = join(daemon.dirs.base, "ocid.conf");
          const base = await Deno.readTextFile(confPath);
          const dir = await Deno.makeTempDir({ prefix: "ocid-it51-reload-" });
          const echo = ["sh", "-c", "echo ${OCID_RELOADED:-unset}"];
          const reloads = () =>
            daemon.output().split("\n").filter((l) => /Configuration reload/.test(l));
          const reload = async (conf: string) => {
            const before = reloads().length;
            await Deno.writeTextFile(confPath, base + conf);
            Deno.kill(daemon.pid, "SIGHUP");
            return await waitFor("the reload's log line", () => {
              const lines = reloads();
              return Promise.resolve(lines.length > before ? lines.at(-1) : undefined);
            });
          };
          try {
            assert.deepEqual(await readInContainer(daemon, image, "before", [echo]), ["unset"]);
            const line = await reload(`default_env = ["OCID_RELOADED=yes"]\nstream_port = 1\n`);
            assert.match(
              line,
              /Configuration reloaded applied=default_env needRestart=stream_port/,
            );
            assert.deepEqual(await readInContainer(daemon, image, "after", [echo]), ["yes"]);
            // A seccomp profile that does not parse: the whole reload is refused.
            await Deno.writeTextFile(`${dir}/bad.json`, "{");
            const failed = await reload(
              `default_env = ["OCID_RELOADED=no"]\nseccomp_profile = "${dir}/bad.json"\n`,
            );
            assert.match(failed, /Configuration reload failed .*Cannot use seccomp_profile/);
            assert.deepEqual(await readInContainer(daemon, image, "kept", [echo]), ["yes"]);
          } finally {
            await daemon.cleanup();
            await Deno.remove(dir, { recursive: true });
          }
        },
      );

      await t.step(
        "a seccomp_profile that does not parse stops the daemon, naming it",
        async () => {
          const dir = await Deno.makeTempDir({ prefix: "ocid-it51-bad-seccomp-" });
          try {
            await Deno.writeTextFile(`${dir}/bad.json`, '{"syscalls": []}');
            await assert.rejects(
              startDaemon({
                bridge: BRIDGE,
                subnet: SUBNET,
                config: `seccomp_profile = "${dir}/bad.json"\n`,
              }),
              // The log line's JSON-quoted error: the key, the file and what is wrong with it.
              /Cannot use seccomp_profile \\".*bad\.json\\": .*defaultAction/,
            );
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        },
      );
    } finally {
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});
