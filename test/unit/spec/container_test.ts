import assert from "node:assert/strict";
import { FailedPreconditionError, InvalidArgumentError } from "../../../src/errors.ts";
import type { ContainerConfig, LinuxContainerSecurityContext } from "../../../src/cri/types.ts";
import { buildContainerSpec, type ContainerSpecOptions } from "../../../src/spec/container.ts";
import type { HostDevice } from "../../../src/host/devices.ts";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, defaultSpec } from "../../../src/spec/default.ts";
import { runtimeDefaultSeccomp } from "../../../src/spec/seccomp.ts";
import type { Spec } from "../../../src/spec/types.ts";
import { containerConfig, containerSecurity, resources } from "./_fixtures.ts";

const NS = {
  network: "/run/netns/pod1",
  ipc: "/proc/42/ns/ipc",
  uts: "/proc/42/ns/uts",
  pid: "/proc/42/ns/pid",
};
const OPTS: ContainerSpecOptions = {
  id: "c1",
  sandbox: { id: "sb1", name: "web", namespace: "default", uid: "uid-1" },
  rootfs: "/var/lib/ocid/containers/c1/rootfs",
  image: {
    Entrypoint: ["/entry"],
    Cmd: ["serve"],
    Env: ["PATH=/bin", "A=image"],
    WorkingDir: "/srv",
  },
  user: { uid: 0, gid: 0, additionalGids: [] },
  namespaces: NS,
  hostCapabilities: ALL_CAPABILITIES,
  listHostDevices: () => [],
};

const build = (c: ContainerConfig, o: Partial<ContainerSpecOptions> = {}) =>
  buildContainerSpec(c, { ...OPTS, ...o });
const expect = (o: Partial<ContainerSpecOptions> = {}): Spec =>
  structuredClone(build(containerConfig(), o));

function withLinux(
  sc: Partial<LinuxContainerSecurityContext> | null,
  res: Partial<ReturnType<typeof resources>> | null = null,
): ContainerConfig {
  return {
    ...containerConfig(),
    linux: {
      security_context: sc === null ? null : { ...containerSecurity(), ...sc },
      resources: res === null ? null : { ...resources(), ...res },
    },
  };
}

function rejects(fn: () => unknown, ...words: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${e}`);
    for (const w of words) assert.ok(e.message.includes(w), `"${e.message}" lacks "${w}"`);
    return true;
  });
}

Deno.test("buildContainerSpec() of a bare container config", () => {
  const spec = build(containerConfig());
  const d = defaultSpec();
  assert.deepEqual(spec.root, { path: OPTS.rootfs, readonly: false });
  assert.deepEqual(spec.process?.args, ["/entry", "serve"]);
  assert.deepEqual(spec.process?.env, ["PATH=/bin", "A=image"]);
  assert.equal(spec.process?.cwd, "/srv");
  assert.equal(spec.process?.terminal, false);
  assert.equal(spec.process?.noNewPrivileges, false);
  assert.deepEqual(spec.process?.capabilities?.bounding, [...DEFAULT_CAPABILITIES]);
  assert.equal(spec.hostname, undefined);
  assert.deepEqual(spec.mounts, d.mounts);
  assert.deepEqual(spec.linux?.namespaces, [
    { type: "mount" },
    { type: "network", path: NS.network },
    { type: "uts", path: NS.uts },
    { type: "ipc", path: NS.ipc },
    { type: "pid", path: NS.pid },
  ]);
  assert.deepEqual(spec.linux?.resources, d.linux?.resources);
  assert.deepEqual(spec.linux?.maskedPaths, d.linux?.maskedPaths);
  assert.equal(spec.linux?.cgroupsPath, "/ocid-c1");
  assert.equal(spec.linux?.seccomp, undefined);
  assert.equal(spec.process?.oomScoreAdj, undefined);
  // None: the container inherits the daemon's limits (containerd's CRI and CRI-O alike).
  assert.equal(spec.process?.rlimits, undefined);
  assert.deepEqual(spec.annotations, {
    "io.kubernetes.cri.container-type": "container",
    "io.kubernetes.cri.sandbox-id": "sb1",
    "io.kubernetes.cri.sandbox-name": "web",
    "io.kubernetes.cri.sandbox-namespace": "default",
    "io.kubernetes.cri.sandbox-uid": "uid-1",
    "io.kubernetes.cri.container-name": "app",
    "io.kubernetes.cri.image-name": "busybox:latest",
    "io.ocid.labels": "{}",
    "io.ocid.annotations": "{}",
    "io.ocid.metadata": JSON.stringify({ name: "app", attempt: 0 }),
  });
});

Deno.test("buildContainerSpec() command and args follow Kubernetes rules", async (t) => {
  const argv = (c: Partial<ContainerConfig>, image = OPTS.image) =>
    build({ ...containerConfig(), ...c }, { image }).process?.args;
  await t.step("command replaces Entrypoint and drops Cmd", () => {
    assert.deepEqual(argv({ command: ["/bin/sh"] }), ["/bin/sh"]);
  });
  await t.step("args replace Cmd", () => {
    assert.deepEqual(argv({ args: ["a", "b"] }), ["/entry", "a", "b"]);
  });
  await t.step("command and args both set", () => {
    assert.deepEqual(argv({ command: ["/bin/sh"], args: ["-c", "x"] }), ["/bin/sh", "-c", "x"]);
  });
  await t.step("no command anywhere is rejected", () => {
    rejects(() => argv({}, {}), "No command", "app");
    assert.deepEqual(argv({}, { Cmd: ["/cmd"] }), ["/cmd"]);
  });
});

Deno.test("buildContainerSpec() fields of ContainerConfig", async (t) => {
  await t.step("metadata.name is required", () => {
    rejects(() => build({ ...containerConfig(), metadata: null }), "metadata.name");
  });

  await t.step("envs override the image's in place and add new ones", () => {
    const want = expect();
    want.process!.env = ["PATH=/bin", "A=req", "B=2"];
    const c = {
      ...containerConfig(),
      envs: [{ key: "A", value: "req" }, { key: "B", value: "2" }],
    };
    assert.deepEqual(build(c), want);
    rejects(() => build({ ...containerConfig(), envs: [{ key: "A=B", value: "" }] }), "envs[0]");
    rejects(() => build({ ...containerConfig(), envs: [{ key: "", value: "" }] }), "envs[0]");
  });

  await t.step("PATH defaults and HOSTNAME comes first", () => {
    const env = build(containerConfig(), { image: { Cmd: ["x"] }, hostname: "web-0" }).process?.env;
    assert.deepEqual(env, [
      "HOSTNAME=web-0",
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]);
  });

  await t.step("working_dir overrides the image's and must be absolute", () => {
    const want = expect();
    want.process!.cwd = "/work";
    assert.deepEqual(build({ ...containerConfig(), working_dir: "/work" }), want);
    rejects(() => build({ ...containerConfig(), working_dir: "work" }), "working_dir");
    assert.equal(build(containerConfig(), { image: { Cmd: ["x"] } }).process?.cwd, "/");
  });

  await t.step("mounts are binds with propagation; rootfs propagation follows", () => {
    const m = (
      container_path: string,
      propagation: ContainerConfig["mounts"][number]["propagation"],
      readonly = false,
    ) => ({
      container_path,
      host_path: `/host${container_path}`,
      readonly,
      selinux_relabel: true,
      propagation,
      uidMappings: [],
      gidMappings: [],
      recursive_read_only: false,
      image: null,
      image_sub_path: "",
    });
    const want = expect();
    want.mounts!.push(
      {
        destination: "/data",
        type: "bind",
        source: "/host/data",
        options: ["rbind", "rslave", "ro"],
      },
      {
        destination: "/data/sub",
        type: "bind",
        source: "/host/data/sub",
        options: ["rbind", "rprivate", "rw"],
      },
    );
    want.linux!.rootfsPropagation = "rslave";
    const c = {
      ...containerConfig(),
      mounts: [
        m("/data/sub", "PROPAGATION_PRIVATE"),
        m("/data", "PROPAGATION_HOST_TO_CONTAINER", true),
      ],
    };
    assert.deepEqual(build(c), want);

    const shared = build({
      ...containerConfig(),
      mounts: [m("/a", "PROPAGATION_BIDIRECTIONAL"), m("/b", "PROPAGATION_HOST_TO_CONTAINER")],
    });
    assert.equal(shared.linux?.rootfsPropagation, "rshared");
    assert.deepEqual(shared.mounts?.find((x) => x.destination === "/a")?.options, [
      "rbind",
      "rshared",
      "rw",
    ]);

    const rro = build({
      ...containerConfig(),
      mounts: [{ ...m("/r", "PROPAGATION_PRIVATE", true), recursive_read_only: true }],
    });
    assert.deepEqual(rro.mounts?.at(-1)?.options, ["rbind", "rprivate", "ro", "rro"]);

    const hosts = build(
      { ...containerConfig(), mounts: [m("/etc/hosts", "PROPAGATION_PRIVATE")] },
      { hostsPath: "/run/p/hosts" },
    );
    assert.deepEqual(
      hosts.mounts?.filter((x) => x.destination === "/etc/hosts").map((x) => x.source),
      ["/host/etc/hosts"],
    );

    rejects(
      () => build({ ...containerConfig(), mounts: [m("rel", "PROPAGATION_PRIVATE")] }),
      "mounts[0].container_path",
    );
    rejects(
      () =>
        build({
          ...containerConfig(),
          mounts: [{ ...m("/x", "PROPAGATION_PRIVATE"), host_path: "x" }],
        }),
      "host_path",
    );
    rejects(
      () =>
        build({
          ...containerConfig(),
          mounts: [{ ...m("/x", "PROPAGATION_PRIVATE"), recursive_read_only: true }],
        }),
      "recursive_read_only needs readonly",
    );
    for (const p of ["PROPAGATION_HOST_TO_CONTAINER", "PROPAGATION_BIDIRECTIONAL"] as const) {
      rejects(
        () =>
          build({
            ...containerConfig(),
            mounts: [{ ...m("/x", p, true), recursive_read_only: true }],
          }),
        `recursive_read_only needs propagation PROPAGATION_PRIVATE, got ${p}`,
      );
    }
    rejects(
      () =>
        build({
          ...containerConfig(),
          mounts: [{
            ...m("/x", "PROPAGATION_PRIVATE"),
            uidMappings: [{ host_id: 1, container_id: 0, length: 1 }],
          }],
        }),
      "not supported",
    );
  });

  await t.step("devices are created and allowed in the device cgroup", () => {
    const nodes: Record<string, HostDevice[]> = {
      "/dev/fuse": [{
        type: "c",
        path: "",
        major: 10,
        minor: 229,
        fileMode: 0o666,
        uid: 0,
        gid: 0,
      }],
    };
    const devicesAt = (p: string, containerPath: string) => {
      const s = nodes[p];
      if (!s) throw new Error("No such file or directory");
      return s.map((d) => ({ ...d, path: containerPath }));
    };
    const want = expect();
    want.linux!.devices = [{
      type: "c",
      path: "/dev/fuse",
      major: 10,
      minor: 229,
      fileMode: 0o666,
      uid: 0,
      gid: 0,
    }];
    want.linux!.resources!.devices!.push({
      allow: true,
      type: "c",
      major: 10,
      minor: 229,
      access: "rw",
    });
    const c = {
      ...containerConfig(),
      devices: [{ container_path: "/dev/fuse", host_path: "/dev/fuse", permissions: "rw" }],
    };
    assert.deepEqual(build(c, { devicesAt }), want);
    rejects(
      () => build({ ...c, devices: [{ ...c.devices[0]!, permissions: "rx" }] }, { devicesAt }),
      "devices[0].permissions",
    );
    rejects(
      () => build({ ...c, devices: [{ ...c.devices[0]!, host_path: "/dev/none" }] }, { devicesAt }),
      "/dev/none",
    );
  });

  await t.step("device_ownership_from_security_context: run_as_user/group own the devices", () => {
    const devicesAt = (_: string, path: string) => [{
      type: "c" as const,
      path,
      major: 10,
      minor: 229,
      fileMode: 0o660,
      uid: 0,
      gid: 6,
    }];
    const owner = (sc: Partial<LinuxContainerSecurityContext> | null, on: boolean) => {
      const c = {
        ...withLinux(sc),
        devices: [{ container_path: "/dev/fuse", host_path: "/dev/fuse", permissions: "rw" }],
      };
      const d = build(c, { devicesAt, deviceOwnershipFromSecurityContext: on }).linux!
        .devices![0]!;
      return [d.uid, d.gid];
    };
    const both = { run_as_user: { value: "1000" }, run_as_group: { value: "2000" } };
    assert.deepEqual(owner(both, true), [1000, 2000]);
    assert.deepEqual(owner(both, false), [0, 6], "off: the host node's owner");
    assert.deepEqual(owner({ run_as_user: { value: "1000" } }, true), [1000, 6]);
    // Root (0) and no security context leave the host's owner, as containerd does.
    assert.deepEqual(owner({ run_as_user: { value: "0" }, run_as_group: { value: "0" } }, true), [
      0,
      6,
    ]);
    assert.deepEqual(owner(null, true), [0, 6]);
  });

  await t.step("a real device node is read with stat", () => {
    const c = {
      ...containerConfig(),
      devices: [{ container_path: "/dev/xnull", host_path: "/dev/null", permissions: "" }],
    };
    const spec = build(c);
    assert.deepEqual(spec.linux?.devices?.[0], {
      type: "c",
      path: "/dev/xnull",
      major: 1,
      minor: 3,
      fileMode: 0o666,
      uid: 0,
      gid: 0,
    });
    assert.deepEqual(spec.linux?.resources?.devices?.at(-1), {
      allow: true,
      type: "c",
      major: 1,
      minor: 3,
      access: "rwm",
    });
    rejects(
      () => build({ ...c, devices: [{ ...c.devices[0]!, host_path: "/etc/hostname" }] }),
      "not a device",
    );
  });

  await t.step("labels and annotations go to annotations; ours win", () => {
    const c = {
      ...containerConfig(),
      labels: { l: "1" },
      annotations: { a: "1", "io.kubernetes.cri.sandbox-id": "forged" },
    };
    const want = expect();
    want.annotations!.a = "1";
    want.annotations!["io.ocid.labels"] = JSON.stringify(c.labels);
    want.annotations!["io.ocid.annotations"] = JSON.stringify(c.annotations);
    assert.deepEqual(build(c), want);
  });

  await t.step("annotations a runtime or ocid acts on stay out unless allowed", () => {
    const c = {
      ...containerConfig(),
      annotations: {
        "org.systemd.property.CPUQuota": "1%",
        "run.oci.keep_original_groups": "1",
        "io.ocid.stop-signal": "SIGKILL",
        "example.com/a": "1",
      },
    };
    const heard: string[][] = [];
    const want = expect();
    want.annotations!["example.com/a"] = "1";
    want.annotations!["org.systemd.property.CPUQuota"] = "1%";
    want.annotations!["io.ocid.annotations"] = JSON.stringify(c.annotations);
    assert.deepEqual(
      build(c, {
        allowedAnnotations: ["org.systemd.property."],
        onDroppedAnnotations: (keys) => heard.push(keys),
      }),
      want,
    );
    assert.deepEqual(heard, [["run.oci.keep_original_groups", "io.ocid.stop-signal"]]);
    assert.equal(build(c).annotations?.["io.ocid.stop-signal"], undefined, "no forged stop signal");
  });

  await t.step("tty sets process.terminal and TERM; stdin changes nothing", () => {
    const want = expect();
    want.process!.terminal = true;
    want.process!.env!.push("TERM=xterm");
    assert.deepEqual(
      build({ ...containerConfig(), tty: true, stdin: true, stdin_once: true }),
      want,
    );
    assert.deepEqual(build({ ...containerConfig(), stdin: true }), expect());
  });

  await t.step("stop_signal, or the image's StopSignal, is recorded", () => {
    assert.equal(
      build({ ...containerConfig(), stop_signal: "SIGINT" }).annotations?.["io.ocid.stop-signal"],
      "SIGINT",
    );
    assert.equal(
      build(containerConfig(), { image: { ...OPTS.image, StopSignal: "SIGQUIT" } }).annotations
        ?.["io.ocid.stop-signal"],
      "SIGQUIT",
    );
    // runc takes real-time signals only by number; standard ones under their full name.
    assert.equal(
      build({ ...containerConfig(), stop_signal: "SIGRTMINPLUS3" }).annotations
        ?.["io.ocid.stop-signal"],
      "37",
    );
    assert.equal(
      build(containerConfig(), { image: { ...OPTS.image, StopSignal: "usr1" } }).annotations
        ?.["io.ocid.stop-signal"],
      "SIGUSR1",
    );
  });
});

Deno.test("buildContainerSpec() with the node's read_only: read-only rootfs, tmpfs scratch dirs", () => {
  const tmpfs = (dest: string, mode: string) => ({
    destination: dest,
    type: "tmpfs",
    source: "tmpfs",
    options: ["rw", "noexec", "nosuid", "nodev", "tmpcopyup", mode],
  });
  const spec = build(containerConfig(), { readOnly: true, hostsPath: "/run/p/hosts" });
  assert.equal(spec.root?.readonly, true);
  for (
    const want of [
      tmpfs("/run", "mode=0755"),
      tmpfs("/tmp", "mode=1777"),
      tmpfs("/var/tmp", "mode=1777"),
    ]
  ) {
    assert.deepEqual(spec.mounts?.find((m) => m.destination === want.destination), want);
  }
  assert.deepEqual(
    spec.mounts?.find((m) => m.destination === "/etc/hosts")?.options,
    ["rbind", "ro"],
    "the pod's files read-only, as with readonly_rootfs",
  );
  // A request's mount at one of those places wins.
  const hostTmp = {
    container_path: "/tmp",
    host_path: "/srv/t",
    readonly: false,
    selinux_relabel: false,
    propagation: "PROPAGATION_PRIVATE" as const,
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: "",
  };
  const own = build({ ...containerConfig(), mounts: [hostTmp] }, { readOnly: true });
  assert.equal(own.mounts?.find((m) => m.destination === "/tmp")?.source, "/srv/t");
  // Off: as before.
  const off = build(containerConfig());
  assert.equal(off.root?.readonly, false);
  assert.ok(!off.mounts?.some((m) => m.destination === "/tmp"));
});

Deno.test("buildContainerSpec() options", async (t) => {
  await t.step("sandbox files and shm are bound read-write", () => {
    const want = expect();
    const i = want.mounts!.findIndex((m) => m.destination === "/dev/shm");
    want.mounts![i] = {
      destination: "/dev/shm",
      type: "bind",
      source: "/run/p/shm",
      options: ["rbind", "nosuid", "noexec", "nodev", "rw"],
    };
    want.mounts!.push(
      {
        destination: "/etc/hostname",
        type: "bind",
        source: "/run/p/hostname",
        options: ["rbind", "rw"],
      },
      {
        destination: "/etc/resolv.conf",
        type: "bind",
        source: "/run/p/resolv.conf",
        options: ["rbind", "rw"],
      },
      { destination: "/etc/hosts", type: "bind", source: "/run/p/hosts", options: ["rbind", "rw"] },
    );
    const got = build(containerConfig(), {
      shmPath: "/run/p/shm",
      hostnamePath: "/run/p/hostname",
      resolvPath: "/run/p/resolv.conf",
      hostsPath: "/run/p/hosts",
    });
    assert.deepEqual(got, want);
  });

  await t.step("user sets process.user", () => {
    const want = expect();
    want.process!.user = { uid: 1000, gid: 1001, additionalGids: [44] };
    assert.deepEqual(
      build(containerConfig(), { user: { uid: 1000, gid: 1001, additionalGids: [44] } }),
      want,
    );
  });

  await t.step("cgroupParent sets cgroupsPath", () => {
    assert.equal(
      build(containerConfig(), { cgroupParent: "/kubepods/pod1" }).linux?.cgroupsPath,
      "/kubepods/pod1/ocid-c1",
    );
  });

  await t.step("rlimits (default_ulimits) set process.rlimits, each a copy", () => {
    const rlimits = [{ type: "RLIMIT_NOFILE", soft: 4096, hard: 8192 }];
    const spec = build(containerConfig(), { rlimits });
    assert.deepEqual(spec.process?.rlimits, rlimits);
    assert.notEqual(spec.process?.rlimits?.[0], rlimits[0]);
    assert.equal(build(containerConfig(), { rlimits: [] }).process?.rlimits, undefined);
  });

  await t.step("defaultEnv (default_env) is under the image's and the request's variables", () => {
    const spec = build(
      {
        ...containerConfig(),
        envs: [{ key: "B", value: "request" }],
      },
      { defaultEnv: ["A=node", "B=node", "C=node"] },
    );
    // The image sets A (containerConfig's image config: A=image), the request B.
    assert.deepEqual(spec.process?.env, ["A=image", "B=request", "C=node", "PATH=/bin"]);
  });
});

Deno.test("buildContainerSpec() namespace_options", async (t) => {
  const ns = (parts: Record<string, string>) =>
    withLinux({
      namespace_options: {
        network: "POD",
        pid: "POD",
        ipc: "POD",
        target_id: "",
        userns_options: null,
        ...parts,
      },
    });
  await t.step("a container asking for a user namespace is refused (none on this node)", () => {
    const c = withLinux({
      namespace_options: {
        network: "POD",
        pid: "POD",
        ipc: "POD",
        target_id: "",
        userns_options: { mode: "POD", uids: [], gids: [] },
      },
    });
    assert.throws(() => build(c), {
      name: "FailedPreconditionError",
      message: /userns_options\.mode POD/,
    });
  });
  await t.step("network NODE: no network or uts namespace, /sys bound", () => {
    const want = expect();
    want.linux!.namespaces = want.linux!.namespaces!.filter((n) =>
      n.type !== "network" && n.type !== "uts"
    );
    const i = want.mounts!.findIndex((m) => m.destination === "/sys");
    want.mounts![i] = {
      destination: "/sys",
      type: "bind",
      source: "/sys",
      options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
    };
    assert.deepEqual(build(ns({ network: "NODE" })), want);
  });
  await t.step("ipc NODE: no ipc namespace, host /dev/shm", () => {
    const spec = build(ns({ ipc: "NODE" }));
    assert.ok(!spec.linux?.namespaces?.some((n) => n.type === "ipc"));
    assert.equal(spec.mounts?.find((m) => m.destination === "/dev/shm")?.source, "/dev/shm");
  });
  await t.step("pid NODE, CONTAINER, TARGET", () => {
    const pid = (mode: string, o: Partial<ContainerSpecOptions> = {}) =>
      build(ns({ pid: mode }), o).linux?.namespaces?.find((n) => n.type === "pid");
    assert.equal(pid("NODE"), undefined);
    assert.deepEqual(pid("CONTAINER"), { type: "pid" });
    assert.deepEqual(pid("TARGET", { namespaces: { ...NS, targetPid: "/proc/77/ns/pid" } }), {
      type: "pid",
      path: "/proc/77/ns/pid",
    });
    assert.throws(() => pid("TARGET"), TypeError);
  });
  await t.step("unsupported modes are rejected", () => {
    rejects(() => build(ns({ network: "CONTAINER" })), "namespace_options.network");
    rejects(() => build(ns({ ipc: "TARGET" })), "namespace_options.ipc");
  });
});

Deno.test("buildContainerSpec() resources", async (t) => {
  await t.step("cpu, cpuset, memory, hugepages, unified", () => {
    const want = expect();
    want.linux!.resources = {
      cpu: { shares: 256, quota: 20000, period: 100000, cpus: "0-1", mems: "0" },
      memory: { limit: 134217728, swap: 268435456 },
      hugepageLimits: [{ pageSize: "2MB", limit: 4194304 }],
      unified: { "memory.high": "100M" },
      devices: want.linux!.resources!.devices!,
    };
    const c = withLinux(null, {
      cpu_shares: "256",
      cpu_quota: "20000",
      cpu_period: "100000",
      cpuset_cpus: "0-1",
      cpuset_mems: "0",
      memory_limit_in_bytes: "134217728",
      memory_swap_limit_in_bytes: "268435456",
      hugepage_limits: [{ page_size: "2MB", limit: "4194304" }],
      unified: { "memory.high": "100M" },
    });
    assert.deepEqual(build(c), want);
  });
  await t.step("oom_score_adj, and the caller's clamped value wins", () => {
    const want = expect();
    want.process!.oomScoreAdj = 999;
    assert.deepEqual(build(withLinux(null, { oom_score_adj: "999" })), want);
    assert.equal(
      build(withLinux(null, { oom_score_adj: "-999" }), { oomScoreAdj: 0 }).process?.oomScoreAdj,
      0,
    );
    rejects(() => build(withLinux(null, { oom_score_adj: "1001" })), "oom_score_adj");
  });
  await t.step("bad values are rejected naming the field", () => {
    rejects(() => build(withLinux(null, { cpuset_cpus: "0-1\n" })), "cpuset_cpus");
    rejects(
      () => build(withLinux(null, { hugepage_limits: [{ page_size: "2M", limit: "1" }] })),
      "hugepage_limits[0].page_size",
    );
    rejects(
      () =>
        build(withLinux(null, { memory_limit_in_bytes: "100", memory_swap_limit_in_bytes: "50" })),
      "memory_swap",
    );
    rejects(() => build(withLinux(null, { unified: { "memory.high": "1\nx" } })), "unified");
  });
});

/** The bounding set of a container that adds and drops these, built with options `o`. */
function caps(add: string[], drop: string[], o: Partial<ContainerSpecOptions> = {}) {
  return build(
    withLinux({
      capabilities: {
        add_capabilities: add,
        drop_capabilities: drop,
        add_ambient_capabilities: [],
      },
    }),
    o,
  ).process?.capabilities?.bounding;
}

Deno.test("buildContainerSpec() fields of LinuxContainerSecurityContext", async (t) => {
  await t.step("capabilities add and drop", () => {
    const expected = ALL_CAPABILITIES.filter((c) =>
      c === "CAP_NET_ADMIN" ||
      (DEFAULT_CAPABILITIES.includes(c) && c !== "CAP_MKNOD" && c !== "CAP_KILL")
    );
    assert.deepEqual(caps(["NET_ADMIN"], ["CAP_MKNOD", "kill"]), expected);
    assert.deepEqual(caps([], ["ALL"]), []);
    assert.deepEqual(caps(["NET_BIND_SERVICE"], ["ALL"]), ["CAP_NET_BIND_SERVICE"]);
    assert.deepEqual(caps(["ALL"], []), [...ALL_CAPABILITIES]);
    assert.deepEqual(
      caps(["ALL"], ["SYS_ADMIN"]),
      ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_ADMIN"),
    );
    rejects(() => caps(["CAP_BOGUS"], []), "CAP_BOGUS", "add_capabilities");
  });

  await t.step("the node's default_capabilities are what adds and drops start from", () => {
    const defaultCapabilities = ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"];
    // In kernel order, whatever the configured order.
    assert.deepEqual(caps([], [], { defaultCapabilities }), [
      "CAP_CHOWN",
      "CAP_KILL",
      "CAP_NET_BIND_SERVICE",
    ]);
    assert.deepEqual(caps(["NET_RAW"], ["KILL"], { defaultCapabilities }), [
      "CAP_CHOWN",
      "CAP_NET_BIND_SERVICE",
      "CAP_NET_RAW",
    ]);
    // A default the daemon's bounding set lacks is left out, as before.
    const hostCapabilities = ALL_CAPABILITIES.filter((c) => c !== "CAP_KILL");
    assert.deepEqual(caps([], [], { defaultCapabilities, hostCapabilities }), [
      "CAP_CHOWN",
      "CAP_NET_BIND_SERVICE",
    ]);
    // Privileged still means the whole bounding set.
    assert.deepEqual(
      build(withLinux({ privileged: true }), { defaultCapabilities, sandboxPrivileged: true })
        .process?.capabilities?.bounding,
      [...ALL_CAPABILITIES],
    );
  });

  await t.step("ambient capabilities join every set", () => {
    const c = build(
      withLinux({
        capabilities: {
          add_capabilities: [],
          drop_capabilities: ["ALL"],
          add_ambient_capabilities: ["NET_BIND_SERVICE"],
        },
      }),
    );
    assert.deepEqual(c.process?.capabilities, {
      bounding: ["CAP_NET_BIND_SERVICE"],
      effective: ["CAP_NET_BIND_SERVICE"],
      permitted: ["CAP_NET_BIND_SERVICE"],
      inheritable: ["CAP_NET_BIND_SERVICE"],
      ambient: ["CAP_NET_BIND_SERVICE"],
    });
  });

  await t.step("privileged: all caps, no masks, all devices, rw sysfs, no seccomp", () => {
    const want = expect({ sandboxPrivileged: true });
    const all = [...ALL_CAPABILITIES];
    want.process!.capabilities = { bounding: all, effective: all, permitted: all };
    delete want.linux!.maskedPaths;
    delete want.linux!.readonlyPaths;
    want.linux!.resources!.devices = [{ allow: true, access: "rwm" }];
    for (const m of want.mounts!) {
      if (m.type === "sysfs" || m.type === "cgroup") {
        m.options = m.options!.filter((o) => o !== "ro");
      }
    }
    const c = withLinux({
      privileged: true,
      seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" },
      masked_paths: ["/x"],
    });
    assert.deepEqual(build(c, { sandboxPrivileged: true }), want);
    rejects(() => build(c), "sandbox is not privileged");
  });

  await t.step("readonly_rootfs makes the root and sandbox files read-only", () => {
    const spec = build(withLinux({ readonly_rootfs: true }), { hostsPath: "/run/p/hosts" });
    assert.equal(spec.root?.readonly, true);
    assert.deepEqual(spec.mounts?.at(-1), {
      destination: "/etc/hosts",
      type: "bind",
      source: "/run/p/hosts",
      options: ["rbind", "ro"],
    });
  });

  await t.step("no_new_privs sets noNewPrivileges", () => {
    const want = expect();
    want.process!.noNewPrivileges = true;
    assert.deepEqual(build(withLinux({ no_new_privs: true })), want);
  });

  await t.step("masked_paths and readonly_paths replace the defaults when given", () => {
    const want = expect();
    want.linux!.maskedPaths = ["/proc/kcore"];
    want.linux!.readonlyPaths = ["/proc/sys"];
    assert.deepEqual(
      build(withLinux({ masked_paths: ["/proc/kcore"], readonly_paths: ["/proc/sys"] })),
      want,
    );
    assert.deepEqual(build(withLinux({})), expect());
    rejects(
      () => build(withLinux({ masked_paths: ["/proc/kcore", "proc/keys"] })),
      'masked_paths[1] "proc/keys": it must be an absolute path',
    );
    rejects(
      () => build(withLinux({ readonly_paths: ["sys"] })),
      'readonly_paths[0] "sys"',
    );
  });

  await t.step("seccomp RuntimeDefault, Unconfined, Localhost, deprecated path", () => {
    const want = expect();
    want.linux!.seccomp = runtimeDefaultSeccomp({ capabilities: DEFAULT_CAPABILITIES });
    assert.deepEqual(
      build(withLinux({ seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" } })),
      want,
    );
    assert.deepEqual(build(withLinux({ seccomp_profile_path: "runtime/default" })), want);
    assert.deepEqual(
      build(withLinux({ seccomp: { profile_type: "Unconfined", localhost_ref: "" } })),
      expect(),
    );
    const local = build(
      withLinux({ seccomp: { profile_type: "Localhost", localhost_ref: "/p.json" } }),
      {
        loadSeccompProfile: () => JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW" }),
      },
    );
    assert.deepEqual(local.linux?.seccomp, { defaultAction: "SCMP_ACT_ALLOW" });
    rejects(
      () =>
        build(withLinux({ seccomp: { profile_type: "Other" as "Localhost", localhost_ref: "" } })),
      "Unknown seccomp profile type",
    );
  });

  await t.step("AppArmor: a Localhost profile by name where the node runs AppArmor", () => {
    const local = withLinux({ apparmor: { profile_type: "Localhost", localhost_ref: "k8s-x" } });
    const want = expect({ appArmorEnabled: true });
    want.process!.apparmorProfile = "k8s-x";
    assert.deepEqual(build(local, { appArmorEnabled: true }), want);
    assert.deepEqual(
      build(withLinux({ apparmor: { profile_type: "RuntimeDefault", localhost_ref: "" } })),
      expect(),
      "no default profile is applied",
    );
    assert.throws(() => build(local), FailedPreconditionError, "a node without AppArmor");
  });

  await t.step("RuntimeDefault opens syscalls for added capabilities", () => {
    const spec = build(withLinux({
      capabilities: {
        add_capabilities: ["SYS_ADMIN"],
        drop_capabilities: [],
        add_ambient_capabilities: [],
      },
      seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" },
    }));
    assert.ok(
      spec.linux?.seccomp?.syscalls?.some((r) =>
        r.names.includes("mount") && r.action === "SCMP_ACT_ALLOW"
      ),
    );
  });

  await t.step("a Docker-format Localhost profile keeps rules whose capabilities are held", () => {
    const docker = {
      defaultAction: "SCMP_ACT_ERRNO",
      archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] }],
      syscalls: [
        { names: ["read"], action: "SCMP_ACT_ALLOW" },
        { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
        { names: ["chroot"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_CHROOT"] } },
      ],
    };
    const spec = build(
      withLinux({ seccomp: { profile_type: "Localhost", localhost_ref: "/d.json" } }),
      {
        loadSeccompProfile: () => JSON.stringify(docker),
      },
    );
    assert.deepEqual(spec.linux?.seccomp, {
      defaultAction: "SCMP_ACT_ERRNO",
      architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
      syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }, {
        names: ["chroot"],
        action: "SCMP_ACT_ALLOW",
      }],
    });
  });

  await t.step("selinux_options and apparmor are ignored", () => {
    const c = withLinux({
      selinux_options: { user: "u", role: "r", type: "t", level: "s0" },
      apparmor_profile: "runtime/default",
    });
    assert.deepEqual(build(c), expect());
  });
});

/** A host like this machine: every capability but CAP_SYS_RESOURCE. */
const NO_SYS_RESOURCE = ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE");
/** A host whose bounding set lacks a default capability too. */
const NO_MKNOD = NO_SYS_RESOURCE.filter((c) => c !== "CAP_MKNOD");
const HOST_NULL = {
  path: "/dev/null",
  type: "c" as const,
  major: 1,
  minor: 3,
  fileMode: 0o666,
  uid: 0,
  gid: 0,
};
const HOST_SDA = { ...HOST_NULL, path: "/dev/sda", type: "b" as const, major: 8, minor: 0 };

Deno.test("buildContainerSpec() on a host whose bounding set lacks capabilities", async (t) => {
  const capsOf = (
    sc: Partial<LinuxContainerSecurityContext>,
    host: readonly string[] = NO_SYS_RESOURCE,
    extra: Partial<ContainerSpecOptions> = {},
  ) => build(withLinux(sc), { hostCapabilities: host, ...extra }).process?.capabilities;
  const capability = (add: string[], drop: string[] = [], ambient: string[] = []) => ({
    capabilities: {
      add_capabilities: add,
      drop_capabilities: drop,
      add_ambient_capabilities: ambient,
    },
  });

  await t.step("privileged means every capability of the bounding set", () => {
    const caps = capsOf({ privileged: true }, NO_SYS_RESOURCE, { sandboxPrivileged: true });
    assert.deepEqual(caps, {
      bounding: NO_SYS_RESOURCE,
      effective: NO_SYS_RESOURCE,
      permitted: NO_SYS_RESOURCE,
    });
  });

  await t.step("ALL means every capability of the bounding set", () => {
    assert.deepEqual(capsOf(capability(["ALL"]))?.bounding, NO_SYS_RESOURCE);
    assert.deepEqual(capsOf(capability(["ALL"]))?.effective, NO_SYS_RESOURCE);
    assert.deepEqual(
      capsOf(capability(["ALL"], ["NET_ADMIN"]))?.bounding,
      NO_SYS_RESOURCE.filter((c) => c !== "CAP_NET_ADMIN"),
    );
  });

  await t.step("drop ALL empties, then single adds apply, as containerd and CRI-O do", () => {
    assert.deepEqual(capsOf(capability([], ["ALL"]))?.bounding, []);
    assert.deepEqual(capsOf(capability(["ALL"], ["ALL"]))?.bounding, []);
    assert.deepEqual(capsOf(capability(["CHOWN", "SYS_ADMIN"], ["ALL"]))?.bounding, [
      "CAP_CHOWN",
      "CAP_SYS_ADMIN",
    ]);
    // a single drop wins over a single add of the same capability
    assert.deepEqual(capsOf(capability(["NET_ADMIN"], ["ALL", "NET_ADMIN"]))?.bounding, []);
  });

  await t.step("defaults the host lacks are left out", () => {
    assert.deepEqual(
      capsOf({}, NO_MKNOD)?.bounding,
      DEFAULT_CAPABILITIES.filter((c) => c !== "CAP_MKNOD"),
    );
    assert.deepEqual(
      capsOf({ privileged: true }, NO_MKNOD, { sandboxPrivileged: true })?.bounding,
      NO_MKNOD,
    );
  });

  await t.step("naming a capability the host lacks is FAILED_PRECONDITION", () => {
    for (
      const sc of [
        capability(["SYS_RESOURCE"]),
        capability(["ALL", "CAP_SYS_RESOURCE"]),
        capability([], [], ["SYS_RESOURCE"]),
      ]
    ) {
      assert.throws(() => capsOf(sc), (e: unknown) => {
        assert.ok(e instanceof FailedPreconditionError, `got ${e}`);
        assert.match(e.message, /CAP_SYS_RESOURCE .*bounding set/);
        return true;
      });
    }
    // dropping it is fine
    assert.deepEqual(capsOf(capability([], ["SYS_RESOURCE"]))?.bounding, [...DEFAULT_CAPABILITIES]);
  });

  await t.step("the bounding set does not open RuntimeDefault rules for what it lacks", () => {
    const spec = build(
      withLinux({
        ...capability(["ALL"]),
        seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" },
      }),
      { hostCapabilities: NO_SYS_RESOURCE },
    );
    assert.deepEqual(
      spec.linux?.seccomp,
      runtimeDefaultSeccomp({ capabilities: NO_SYS_RESOURCE }),
    );
  });
});

Deno.test("buildContainerSpec() privileged in full", async (t) => {
  const privileged = (
    sc: Partial<LinuxContainerSecurityContext> = {},
    extra: Partial<ContainerSpecOptions> = {},
  ) =>
    build({ ...withLinux({ privileged: true, ...sc }) }, {
      sandboxPrivileged: true,
      hostCapabilities: NO_SYS_RESOURCE,
      listHostDevices: () => [HOST_NULL, HOST_SDA],
      ...extra,
    });

  await t.step("every host device, and a device cgroup that restricts nothing", () => {
    const spec = privileged();
    assert.deepEqual(spec.linux?.devices, [HOST_NULL, HOST_SDA]);
    assert.deepEqual(spec.linux?.resources?.devices, [{ allow: true, access: "rwm" }]);
  });

  await t.step("a device the request names wins over the host's at the same path", () => {
    const c = withLinux({ privileged: true });
    c.devices = [{ host_path: "/dev/host-sda", container_path: "/dev/sda", permissions: "r" }];
    const spec = build(c, {
      sandboxPrivileged: true,
      hostCapabilities: NO_SYS_RESOURCE,
      listHostDevices: () => [HOST_NULL, HOST_SDA],
      devicesAt: (
        _,
        path,
      ) => [{ type: "b", path, major: 8, minor: 16, fileMode: 0o660, uid: 0, gid: 6 }],
    });
    assert.deepEqual(spec.linux?.devices, [HOST_NULL, {
      type: "b",
      path: "/dev/sda",
      major: 8,
      minor: 16,
      fileMode: 0o660,
      uid: 0,
      gid: 6,
    }]);
    assert.deepEqual(spec.linux?.resources?.devices, [{ allow: true, access: "rwm" }]);
  });

  await t.step("an unprivileged container gets no host devices", () => {
    let listed = false;
    const spec = build(withLinux({}), {
      listHostDevices: () => {
        listed = true;
        return [HOST_SDA];
      },
    });
    assert.equal(listed, false);
    assert.equal(spec.linux?.devices, undefined);
  });

  await t.step("no masked or read-only paths, even when the request asks", () => {
    const spec = privileged({ masked_paths: ["/proc/kcore"], readonly_paths: ["/proc/sys"] });
    assert.equal(spec.linux?.maskedPaths, undefined);
    assert.equal(spec.linux?.readonlyPaths, undefined);
  });

  await t.step("sysfs and cgroupfs are writable, also /sys bound from a host-network pod", () => {
    for (const m of privileged().mounts!) {
      if (m.destination.startsWith("/sys")) assert.ok(!m.options?.includes("ro"), m.destination);
    }
    const hostNet = privileged({
      namespace_options: {
        network: "NODE",
        pid: "POD",
        ipc: "POD",
        target_id: "",
        userns_options: null,
      },
    });
    const sys = hostNet.mounts!.find((m) => m.destination === "/sys")!;
    assert.equal(sys.type, "bind");
    assert.ok(sys.options?.includes("rw") && !sys.options.includes("ro"));
  });

  await t.step("a seccomp profile the request asks for is ignored, and never read", () => {
    for (
      const seccomp of [
        { profile_type: "Localhost" as const, localhost_ref: "/etc/ocid/no-sethostname.json" },
        { profile_type: "RuntimeDefault" as const, localhost_ref: "" },
      ]
    ) {
      const spec = privileged({ seccomp }, {
        loadSeccompProfile: () => {
          throw new Error("a privileged container must not read its seccomp profile");
        },
      });
      assert.equal(spec.linux?.seccomp, undefined);
    }
    const unprivileged = build(
      withLinux({ seccomp: { profile_type: "Localhost", localhost_ref: "/p.json" } }),
      {
        loadSeccompProfile: () =>
          JSON.stringify({
            defaultAction: "SCMP_ACT_ALLOW",
            syscalls: [{ names: ["sethostname"], action: "SCMP_ACT_ERRNO" }],
          }),
      },
    );
    assert.deepEqual(unprivileged.linux?.seccomp?.syscalls, [
      { names: ["sethostname"], action: "SCMP_ACT_ERRNO" },
    ]);
  });

  await t.step("no AppArmor or SELinux labels", () => {
    const spec = privileged();
    assert.equal(spec.process?.apparmorProfile, undefined);
    assert.equal(spec.process?.selinuxLabel, undefined);
    assert.equal(spec.linux?.mountLabel, undefined);
  });
});
