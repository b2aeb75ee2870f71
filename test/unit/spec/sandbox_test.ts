import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { buildSandboxSpec, type SandboxSpecOptions } from "../../../src/spec/sandbox.ts";
import { ALL_CAPABILITIES, defaultMounts, defaultSpec } from "../../../src/spec/default.ts";
import { runtimeDefaultSeccomp } from "../../../src/spec/seccomp.ts";
import type { Spec } from "../../../src/spec/types.ts";
import {
  namespaceOption,
  podConfig,
  podWithLinux,
  podWithSecurity,
  resources,
} from "./_fixtures.ts";

const OPTS: SandboxSpecOptions = {
  id: "sb1",
  rootfs: "/var/lib/ocid/infra/rootfs",
  pauseArgs: ["/pause", "-P"],
  hostCapabilities: ALL_CAPABILITIES,
};

/** The spec of the default pod config, and a copy to change for the expected result. */
function base(options: Partial<SandboxSpecOptions> = {}): Spec {
  return buildSandboxSpec(podConfig(), { ...OPTS, ...options });
}
const expect = (options: Partial<SandboxSpecOptions> = {}) => structuredClone(base(options));

function rejects(fn: () => unknown, ...words: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${e}`);
    for (const w of words) assert.ok(e.message.includes(w), `"${e.message}" lacks "${w}"`);
    return true;
  });
}

Deno.test("buildSandboxSpec() of a bare pod config", () => {
  const spec = base();
  const d = defaultSpec();
  assert.deepEqual(spec.root, { path: OPTS.rootfs, readonly: true });
  assert.deepEqual(spec.process?.args, ["/pause", "-P"]);
  assert.deepEqual(spec.process?.user, { uid: 0, gid: 0 });
  assert.equal(spec.process?.noNewPrivileges, true);
  assert.equal(spec.process?.cwd, "/");
  assert.deepEqual(spec.process?.capabilities, d.process?.capabilities);
  assert.equal(spec.hostname, undefined);
  assert.deepEqual(spec.mounts, defaultMounts());
  assert.deepEqual(spec.linux?.namespaces, [
    { type: "mount" },
    { type: "network" },
    { type: "uts" },
    { type: "pid" },
    { type: "ipc" },
  ]);
  assert.equal(spec.linux?.cgroupsPath, "/ocid-sb1");
  assert.deepEqual(spec.linux?.resources, d.linux?.resources);
  assert.deepEqual(spec.linux?.maskedPaths, d.linux?.maskedPaths);
  assert.deepEqual(spec.linux?.readonlyPaths, d.linux?.readonlyPaths);
  assert.equal(spec.linux?.seccomp, undefined);
  assert.equal(spec.linux?.sysctl, undefined);
  assert.deepEqual(spec.annotations, {
    "io.kubernetes.cri.container-type": "sandbox",
    "io.kubernetes.cri.sandbox-id": "sb1",
    "io.kubernetes.cri.sandbox-name": "web",
    "io.kubernetes.cri.sandbox-namespace": "default",
    "io.kubernetes.cri.sandbox-uid": "uid-1",
    "io.ocid.labels": "{}",
    "io.ocid.annotations": "{}",
    "io.ocid.metadata": JSON.stringify({
      name: "web",
      uid: "uid-1",
      namespace: "default",
      attempt: 0,
    }),
  });
  assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec, "the spec is plain JSON");
});

Deno.test("buildSandboxSpec() fields of PodSandboxConfig", async (t) => {
  await t.step("metadata is required, with name, namespace and uid", () => {
    rejects(() => buildSandboxSpec({ ...podConfig(), metadata: null }, OPTS), "metadata");
    for (const f of ["name", "namespace", "uid"] as const) {
      const c = podConfig();
      c.metadata![f] = "";
      rejects(() => buildSandboxSpec(c, OPTS), `metadata.${f}`);
    }
  });

  await t.step("hostname sets spec.hostname", () => {
    const want = expect();
    want.hostname = "web-0";
    assert.deepEqual(buildSandboxSpec({ ...podConfig(), hostname: "web-0" }, OPTS), want);
    rejects(() => buildSandboxSpec({ ...podConfig(), hostname: "web\nx" }, OPTS), "hostname");
  });

  await t.step("log_directory becomes the sandbox-log-directory annotation", () => {
    const want = expect();
    want.annotations!["io.kubernetes.cri.sandbox-log-directory"] = "/var/log/pods/x";
    assert.deepEqual(
      buildSandboxSpec({ ...podConfig(), log_directory: "/var/log/pods/x" }, OPTS),
      want,
    );
  });

  await t.step("labels are kept as JSON in io.ocid.labels", () => {
    const labels = { app: "web", "io.kubernetes.pod.name": "web" };
    const want = expect();
    want.annotations!["io.ocid.labels"] = JSON.stringify(labels);
    assert.deepEqual(buildSandboxSpec({ ...podConfig(), labels }, OPTS), want);
  });

  await t.step("annotations go to spec.annotations and io.ocid.annotations; ours win", () => {
    const annotations = { "example.com/a": "1", "io.kubernetes.cri.sandbox-id": "forged" };
    const want = expect();
    want.annotations!["example.com/a"] = "1";
    want.annotations!["io.ocid.annotations"] = JSON.stringify(annotations);
    assert.deepEqual(buildSandboxSpec({ ...podConfig(), annotations }, OPTS), want);
  });

  await t.step("annotations a runtime or ocid acts on stay out unless allowed", () => {
    const annotations = {
      "org.systemd.property.CPUQuota": "1%",
      "run.oci.keep_original_groups": "1",
      "io.ocid.stop-signal": "SIGKILL",
      "example.com/a": "1",
    };
    const heard: string[][] = [];
    const spec = buildSandboxSpec({ ...podConfig(), annotations }, {
      ...OPTS,
      allowedAnnotations: ["run.oci.keep_original_groups"],
      onDroppedAnnotations: (keys) => heard.push(keys),
    });
    const want = expect();
    want.annotations!["example.com/a"] = "1";
    want.annotations!["run.oci.keep_original_groups"] = "1";
    want.annotations!["io.ocid.annotations"] = JSON.stringify(annotations);
    assert.deepEqual(spec, want);
    assert.deepEqual(heard, [["org.systemd.property.CPUQuota", "io.ocid.stop-signal"]]);
  });

  await t.step("dns_config and port_mappings do not change the spec", () => {
    const c = podConfig();
    c.dns_config = { servers: ["10.96.0.10"], searches: [], options: [] };
    c.port_mappings = [{ protocol: "TCP", container_port: 80, host_port: 8080, host_ip: "" }];
    assert.deepEqual(buildSandboxSpec(c, OPTS), expect());
  });
});

Deno.test("buildSandboxSpec() options", async (t) => {
  await t.step("hostnamePath, resolvPath, hostsPath are read-only binds", () => {
    const want = expect();
    want.mounts!.push(
      {
        destination: "/etc/hostname",
        type: "bind",
        source: "/run/p/hostname",
        options: ["rbind", "ro"],
      },
      {
        destination: "/etc/resolv.conf",
        type: "bind",
        source: "/run/p/resolv.conf",
        options: ["rbind", "ro"],
      },
      { destination: "/etc/hosts", type: "bind", source: "/run/p/hosts", options: ["rbind", "ro"] },
    );
    const got = base({
      hostnamePath: "/run/p/hostname",
      resolvPath: "/run/p/resolv.conf",
      hostsPath: "/run/p/hosts",
    });
    assert.deepEqual(got, want);
  });

  await t.step("shmPath replaces the /dev/shm tmpfs with a read-only bind", () => {
    const want = expect();
    const i = want.mounts!.findIndex((m) => m.destination === "/dev/shm");
    want.mounts![i] = {
      destination: "/dev/shm",
      type: "bind",
      source: "/run/p/shm",
      options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
    };
    assert.deepEqual(base({ shmPath: "/run/p/shm" }), want);
  });

  await t.step("netnsPath joins that network namespace", () => {
    const want = expect();
    want.linux!.namespaces![1] = { type: "network", path: "/run/netns/x" };
    assert.deepEqual(base({ netnsPath: "/run/netns/x" }), want);
  });

  await t.step("cgroupParent and cgroupManager set cgroupsPath", () => {
    assert.equal(
      base({ cgroupParent: "/kubepods/pod1" }).linux?.cgroupsPath,
      "/kubepods/pod1/ocid-sb1",
    );
    assert.equal(
      base({ cgroupParent: "kubepods-pod1.slice", cgroupManager: "systemd" }).linux?.cgroupsPath,
      "kubepods-pod1.slice:ocid:sb1",
    );
    rejects(() => base({ cgroupParent: "/kubepods/../etc" }), "cgroup_parent");
    rejects(() => base({ cgroupParent: "/x", cgroupManager: "systemd" }), "slice");
  });

  await t.step("oomScoreAdj sets process.oomScoreAdj", () => {
    const want = expect();
    want.process!.oomScoreAdj = -998;
    assert.deepEqual(base({ oomScoreAdj: -998 }), want);
  });

  await t.step("annotations are added and win", () => {
    const want = expect();
    want.annotations!["io.ocid.created"] = "x";
    want.annotations!["io.kubernetes.cri.sandbox-name"] = "y";
    assert.deepEqual(
      base({ annotations: { "io.ocid.created": "x", "io.kubernetes.cri.sandbox-name": "y" } }),
      want,
    );
  });
});

Deno.test("buildSandboxSpec() fields of LinuxPodSandboxConfig", async (t) => {
  await t.step("cgroup_parent is used when the caller gives none", () => {
    const got = buildSandboxSpec(
      podWithLinux({ cgroup_parent: "/kubepods/besteffort/pod1" }),
      OPTS,
    );
    assert.equal(got.linux?.cgroupsPath, "/kubepods/besteffort/pod1/ocid-sb1");
    const over = buildSandboxSpec(podWithLinux({ cgroup_parent: "/a" }), {
      ...OPTS,
      cgroupParent: "/b",
    });
    assert.equal(over.linux?.cgroupsPath, "/b/ocid-sb1");
  });

  await t.step("sysctls become linux.sysctl", () => {
    const want = expect();
    want.linux!.sysctl = {
      "net.ipv4.ip_unprivileged_port_start": "0",
      "kernel.shm_rmid_forced": "1",
    };
    const got = buildSandboxSpec(podWithLinux({ sysctls: { ...want.linux!.sysctl } }), OPTS);
    assert.deepEqual(got, want);
  });

  await t.step("bad sysctls are rejected", () => {
    rejects(
      () => buildSandboxSpec(podWithLinux({ sysctls: { "kernel.core_pattern": "|/x" } }), OPTS),
      "kernel.core_pattern",
    );
    rejects(
      () =>
        buildSandboxSpec(
          podWithLinux({ sysctls: { "kernel.shm_rmid_forced": "1+kernel.core_pattern=|/x" } }),
          OPTS,
        ),
      "+",
    );
    const hostNet = podWithSecurity({
      namespace_options: { ...namespaceOption(), network: "NODE" },
    });
    hostNet.linux!.sysctls = { "net.ipv4.ip_forward": "1" };
    rejects(() => buildSandboxSpec(hostNet, OPTS), "host network");
  });

  await t.step("resources become linux.resources", () => {
    const r = {
      ...resources(),
      cpu_shares: "512",
      cpu_quota: "50000",
      cpu_period: "100000",
      memory_limit_in_bytes: "268435456",
    };
    const want = expect();
    want.linux!.resources = {
      ...want.linux!.resources,
      cpu: { shares: 512, quota: 50000, period: 100000 },
      memory: { limit: 268435456 },
    };
    assert.deepEqual(buildSandboxSpec(podWithLinux({ resources: r }), OPTS), want);
  });

  await t.step("overhead is used when resources are absent", () => {
    const want = expect();
    want.linux!.resources = { ...want.linux!.resources, memory: { limit: 1048576 } };
    const got = buildSandboxSpec(
      podWithLinux({ overhead: { ...resources(), memory_limit_in_bytes: "1048576" } }),
      OPTS,
    );
    assert.deepEqual(got, want);
  });

  await t.step("bad resources are rejected naming the field", () => {
    rejects(
      () =>
        buildSandboxSpec(podWithLinux({ resources: { ...resources(), cpu_shares: "-1" } }), OPTS),
      "linux.resources.cpu_shares",
    );
    rejects(
      () =>
        buildSandboxSpec(
          podWithLinux({ resources: { ...resources(), memory_limit_in_bytes: "x" } }),
          OPTS,
        ),
      "memory_limit_in_bytes",
    );
    rejects(
      () =>
        buildSandboxSpec(
          podWithLinux({ resources: { ...resources(), unified: { "../x": "1" } } }),
          OPTS,
        ),
      "unified",
    );
  });
});

Deno.test("buildSandboxSpec() namespace_options", async (t) => {
  const withNs = (parts: Partial<ReturnType<typeof namespaceOption>>) =>
    podWithSecurity({ namespace_options: { ...namespaceOption(), ...parts } });

  await t.step("all POD is the default", () => {
    assert.deepEqual(buildSandboxSpec(withNs({}), OPTS), expect());
  });

  await t.step("network NODE: no network or uts namespace, no hostname, /sys bound", () => {
    const c = withNs({ network: "NODE" });
    c.hostname = "ignored";
    const want = expect();
    want.linux!.namespaces = [{ type: "mount" }, { type: "pid" }, { type: "ipc" }];
    const i = want.mounts!.findIndex((m) => m.destination === "/sys");
    want.mounts![i] = {
      destination: "/sys",
      type: "bind",
      source: "/sys",
      options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
    };
    assert.deepEqual(buildSandboxSpec(c, OPTS), want);
    assert.throws(() => buildSandboxSpec(c, { ...OPTS, netnsPath: "/run/netns/x" }), TypeError);
  });

  await t.step("pid NODE: no pid namespace; CONTAINER: a new one; TARGET rejected", () => {
    const want = expect();
    want.linux!.namespaces = want.linux!.namespaces!.filter((n) => n.type !== "pid");
    assert.deepEqual(buildSandboxSpec(withNs({ pid: "NODE" }), OPTS), want);
    assert.deepEqual(buildSandboxSpec(withNs({ pid: "CONTAINER" }), OPTS), expect());
    rejects(() => buildSandboxSpec(withNs({ pid: "TARGET" }), OPTS), "namespace_options.pid");
  });

  await t.step("ipc NODE: no ipc namespace, host /dev/shm; CONTAINER rejected", () => {
    const want = expect();
    want.linux!.namespaces = want.linux!.namespaces!.filter((n) => n.type !== "ipc");
    const i = want.mounts!.findIndex((m) => m.destination === "/dev/shm");
    want.mounts![i] = {
      destination: "/dev/shm",
      type: "bind",
      source: "/dev/shm",
      options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
    };
    assert.deepEqual(buildSandboxSpec(withNs({ ipc: "NODE" }), OPTS), want);
    rejects(() => buildSandboxSpec(withNs({ ipc: "CONTAINER" }), OPTS), "namespace_options.ipc");
    rejects(
      () => buildSandboxSpec(withNs({ network: "TARGET" }), OPTS),
      "namespace_options.network",
    );
  });

  await t.step(
    "userns_options POD is refused (no user namespaces on this node); NODE is the default",
    () => {
      const pod = withNs({
        userns_options: {
          mode: "POD",
          uids: [{ host_id: 100000, container_id: 0, length: 65536 }],
          gids: [{ host_id: 200000, container_id: 0, length: 65536 }],
        },
      });
      assert.throws(() => buildSandboxSpec(pod, OPTS), {
        name: "FailedPreconditionError",
        message: /userns_options\.mode POD: this node does not run pods in user namespaces/,
      });
      assert.deepEqual(
        buildSandboxSpec(withNs({ userns_options: { mode: "NODE", uids: [], gids: [] } }), OPTS),
        expect(),
      );
      rejects(
        () =>
          buildSandboxSpec(
            withNs({ userns_options: { mode: "TARGET", uids: [], gids: [] } }),
            OPTS,
          ),
        "userns_options",
      );
    },
  );
});

Deno.test("buildSandboxSpec() fields of LinuxSandboxSecurityContext", async (t) => {
  await t.step("run_as_user and run_as_group set the pause user", () => {
    const want = expect();
    want.process!.user = { uid: 65535, gid: 65534 };
    assert.deepEqual(
      buildSandboxSpec(
        podWithSecurity({ run_as_user: { value: "65535" }, run_as_group: { value: "65534" } }),
        OPTS,
      ),
      want,
    );
    rejects(
      () => buildSandboxSpec(podWithSecurity({ run_as_user: { value: "-1" } }), OPTS),
      "run_as_user",
    );
    rejects(
      () => buildSandboxSpec(podWithSecurity({ run_as_group: { value: "5" } }), OPTS),
      "run_as_group needs run_as_user",
    );
  });

  await t.step("supplemental_groups become additionalGids, after the primary group", () => {
    const want = expect();
    want.process!.user.additionalGids = [0, 10, 20];
    assert.deepEqual(
      buildSandboxSpec(podWithSecurity({ supplemental_groups: ["10", "20"] }), OPTS),
      want,
    );
  });

  await t.step("readonly_rootfs keeps the shared rootfs read-only either way", () => {
    assert.deepEqual(buildSandboxSpec(podWithSecurity({ readonly_rootfs: true }), OPTS), expect());
  });

  await t.step("selinux_options and apparmor are ignored", () => {
    const c = podWithSecurity({
      selinux_options: { user: "u", role: "r", type: "t", level: "s0" },
      apparmor: { profile_type: "RuntimeDefault", localhost_ref: "" },
    });
    assert.deepEqual(buildSandboxSpec(c, OPTS), expect());
  });

  await t.step("privileged: all capabilities, no masks, all devices, no seccomp, rw sysfs", () => {
    const want = expect();
    const all = [...ALL_CAPABILITIES];
    want.process!.capabilities = { bounding: all, effective: all, permitted: all };
    want.process!.noNewPrivileges = false;
    delete want.linux!.maskedPaths;
    delete want.linux!.readonlyPaths;
    want.linux!.resources!.devices = [{ allow: true, access: "rwm" }];
    for (const m of want.mounts!) {
      if (m.type === "sysfs" || m.type === "cgroup") {
        m.options = m.options!.filter((o) => o !== "ro");
      }
    }
    const c = podWithSecurity({
      privileged: true,
      seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" },
    });
    assert.deepEqual(buildSandboxSpec(c, OPTS), want);
  });

  await t.step("seccomp RuntimeDefault uses the built-in profile", () => {
    const want = expect();
    want.linux!.seccomp = runtimeDefaultSeccomp({
      capabilities: want.process!.capabilities!.bounding!,
    });
    const c = podWithSecurity({ seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" } });
    assert.deepEqual(buildSandboxSpec(c, OPTS), want);
    assert.deepEqual(
      buildSandboxSpec(podWithSecurity({ seccomp_profile_path: "runtime/default" }), OPTS),
      want,
    );
    assert.deepEqual(
      buildSandboxSpec(podWithSecurity({ seccomp_profile_path: "docker/default" }), OPTS),
      want,
    );
  });

  await t.step("seccomp Unconfined sets none, and wins over the deprecated path", () => {
    const c = podWithSecurity({
      seccomp: { profile_type: "Unconfined", localhost_ref: "" },
      seccomp_profile_path: "runtime/default",
    });
    assert.deepEqual(buildSandboxSpec(c, OPTS), expect());
    assert.deepEqual(
      buildSandboxSpec(podWithSecurity({ seccomp_profile_path: "unconfined" }), OPTS),
      expect(),
    );
  });

  await t.step("seccomp Localhost reads the JSON file", () => {
    const profile = {
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
    };
    const read: string[] = [];
    const loadSeccompProfile = (p: string) => {
      read.push(p);
      return JSON.stringify(profile);
    };
    const want = expect();
    want.linux!.seccomp = profile;
    const c = podWithSecurity({
      seccomp: { profile_type: "Localhost", localhost_ref: "/var/lib/kubelet/seccomp/p.json" },
    });
    assert.deepEqual(buildSandboxSpec(c, { ...OPTS, loadSeccompProfile }), want);
    const legacy = podWithSecurity({
      seccomp_profile_path: "localhost//var/lib/kubelet/seccomp/q.json",
    });
    assert.deepEqual(buildSandboxSpec(legacy, { ...OPTS, loadSeccompProfile }), want);
    assert.deepEqual(read, ["/var/lib/kubelet/seccomp/p.json", "/var/lib/kubelet/seccomp/q.json"]);
  });

  await t.step("seccomp Localhost with a real file", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const file = `${dir}/p.json`;
      await Deno.writeTextFile(file, JSON.stringify({ defaultAction: "SCMP_ACT_LOG" }));
      const c = podWithSecurity({ seccomp: { profile_type: "Localhost", localhost_ref: file } });
      assert.deepEqual(buildSandboxSpec(c, OPTS).linux?.seccomp, { defaultAction: "SCMP_ACT_LOG" });
      const missing = podWithSecurity({
        seccomp: { profile_type: "Localhost", localhost_ref: `${dir}/none.json` },
      });
      rejects(() => buildSandboxSpec(missing, OPTS), "Cannot read seccomp profile", "none.json");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("bad seccomp requests are rejected", () => {
    const load = () => "not json";
    rejects(
      () =>
        buildSandboxSpec(
          podWithSecurity({ seccomp: { profile_type: "Bogus" as "Localhost", localhost_ref: "" } }),
          OPTS,
        ),
      "Unknown seccomp profile type",
      "seccomp.profile_type",
    );
    rejects(
      () => buildSandboxSpec(podWithSecurity({ seccomp_profile_path: "bogus" }), OPTS),
      "seccomp_profile_path",
    );
    rejects(
      () =>
        buildSandboxSpec(
          podWithSecurity({ seccomp: { profile_type: "Localhost", localhost_ref: "rel.json" } }),
          OPTS,
        ),
      "absolute",
    );
    rejects(
      () =>
        buildSandboxSpec(
          podWithSecurity({ seccomp: { profile_type: "Localhost", localhost_ref: "/p.json" } }),
          { ...OPTS, loadSeccompProfile: load },
        ),
      "Cannot parse seccomp profile",
    );
    rejects(
      () =>
        buildSandboxSpec(
          podWithSecurity({ seccomp: { profile_type: "Localhost", localhost_ref: "/p.json" } }),
          { ...OPTS, loadSeccompProfile: () => "{}" },
        ),
      "defaultAction",
    );
  });
});

Deno.test("buildSandboxSpec() privileged on a host whose bounding set lacks CAP_SYS_RESOURCE", () => {
  const host = ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE");
  const spec = buildSandboxSpec(podWithSecurity({ privileged: true }), {
    ...OPTS,
    hostCapabilities: host,
  });
  assert.deepEqual(spec.process?.capabilities, {
    bounding: host,
    effective: host,
    permitted: host,
  });
  assert.equal(spec.linux?.maskedPaths, undefined);
  assert.equal(spec.linux?.seccomp, undefined);
  assert.deepEqual(spec.linux?.resources?.devices, [{ allow: true, access: "rwm" }]);
  // unprivileged: the defaults, less what the host lacks
  const noChown = host.filter((c) => c !== "CAP_CHOWN");
  const plain = buildSandboxSpec(podConfig(), { ...OPTS, hostCapabilities: noChown });
  assert.deepEqual(
    plain.process?.capabilities?.bounding,
    defaultSpec().process!.capabilities!.bounding!.filter((c) => c !== "CAP_CHOWN"),
  );
});
