import { generateKeyPairSync } from "node:crypto";
/**
 * `ocid doctor`'s checks on a fake machine: a healthy one passes; each broken part gives the
 * finding an operator needs (severity, what, fix), and the report fails when a check fails.
 */
import assert from "node:assert/strict";
import { defaultConfig } from "../../../src/config/mod.ts";
import type { Config } from "../../../src/config/types.ts";
import {
  anyFailed,
  type DoctorHost,
  type Finding,
  formatReport,
  runDoctor,
} from "../../../src/doctor/mod.ts";
import type { RunResult } from "../../../src/process.ts";

const enc = new TextEncoder();
const ALL_CAPS = 0x1ffffffffffn;
const CAP_SYS_RESOURCE = 1n << 24n;
const CAP_SYS_ADMIN = 1n << 21n;
const CONFLIST = JSON.stringify({
  cniVersion: "1.0.0",
  name: "podnet",
  plugins: [{ type: "bridge" }, { type: "portmap", capabilities: { portMappings: true } }],
});

function result(code: number, stdout: string): RunResult {
  return { code, stdout: enc.encode(stdout), stderr: new Uint8Array() };
}

/** A healthy machine; `change` breaks parts of it. */
function fakeHost(change: Partial<DoctorHost> & { files?: Record<string, string> } = {}) {
  const files: Record<string, string> = {
    "/etc/cni/net.d/10-pod.conflist": CONFLIST,
    "/etc/containers/registries.conf": 'unqualified-search-registries = ["docker.io"]\n',
    "/proc/filesystems": "nodev\tsysfs\nnodev\toverlay\n",
    ...change.files,
  };
  const executables = new Set([
    "/usr/sbin/runc",
    "/usr/bin/conmon",
    "/usr/bin/catatonit",
    "/usr/lib/cni/bridge",
    "/usr/lib/cni/portmap",
  ]);
  const host: DoctorHost = {
    runner: {
      run(cmd, args, options) {
        if (options?.env?.CNI_COMMAND === "VERSION") {
          return Promise.resolve(
            result(0, JSON.stringify({ supportedVersions: ["0.4.0", "1.0.0"] })),
          );
        }
        if (args[0] === "--version") {
          return Promise.resolve(result(0, `${cmd.split("/").pop()} version 1.0\ncommit: x\n`));
        }
        return Promise.resolve(result(1, ""));
      },
    },
    stat: (path) =>
      Promise.resolve(
        path === "/run/ocid"
          ? { isFile: false, isDirectory: true, isSocket: false, mode: 0o750 }
          : undefined,
      ),
    isExecutable: (path) => Promise.resolve(executables.has(path)),
    readTextFile(path) {
      const text = files[path];
      return text === undefined
        ? Promise.reject(new Deno.errors.NotFound(path))
        : Promise.resolve(text);
    },
    readDir(path) {
      const names = Object.keys(files).filter((f) => f.startsWith(`${path}/`)).map((f) =>
        f.slice(path.length + 1)
      );
      return names.length > 0
        ? Promise.resolve(names)
        : Promise.reject(new Deno.errors.NotFound(path));
    },
    space: () =>
      Promise.resolve({ available: 50 * 1024 ** 3, total: 100 * 1024 ** 3, type: 0xef53 }),
    cgroupLayout: () =>
      Promise.resolve({
        v1: {},
        v2: "/sys/fs/cgroup",
        v2Controllers: ["cpu", "memory", "pids", "cpuset", "hugetlb"],
      }),
    capEff: () => Promise.resolve(ALL_CAPS),
    uid: () => 0,
    systemdIsInit: () => false,
    tryOverlay: () => Promise.resolve(),
    probeSocket: () => Promise.resolve({ kind: "absent" }),
  };
  const { files: _files, ...rest } = change;
  return { ...host, ...rest };
}

function config(change: (c: Config) => void = () => {}): Config {
  const c = defaultConfig({ host: { systemdIsInit: () => false, hasCapSysResource: () => true } });
  change(c);
  return c;
}

function only(findings: Finding[], severity: string): Finding[] {
  return findings.filter((f) => f.severity === severity);
}

Deno.test("a healthy node passes every check", async () => {
  const findings = await runDoctor(config(), fakeHost());
  assert.deepEqual(only(findings, "fail"), []);
  assert.deepEqual(only(findings, "warn"), []);
  assert.equal(anyFailed(findings), false);
  const report = formatReport(findings);
  assert.match(report, /^ok {4}runtime {5}runc version 1\.0 \(\/usr\/sbin\/runc\)$/m);
  assert.match(report, /^ok {4}cni .*Network "podnet" .*cniVersion 1\.0\.0: bridge, portmap$/m);
  assert.match(report, /^ok {4}cgroups .*Unified layout \(cgroup2 at \/sys\/fs\/cgroup\)$/m);
  assert.match(report, /^ok {4}cdi .*0 CDI devices in \/etc\/cdi, \/var\/run\/cdi$/m);
  assert.match(report, /\n\d+ ok, 0 warn, 0 fail\n$/);
});

Deno.test("CDI spec files: bad files, devices defined twice and missing device nodes warn", async () => {
  const spec = (kind: string, name: string, edits: Record<string, unknown> = {}) =>
    JSON.stringify({ cdiVersion: "0.6.0", kind, devices: [{ name, containerEdits: edits }] });
  const files = {
    "/etc/cdi/a.json": spec("v.com/gpu", "0"),
    "/etc/cdi/b.json": spec("v.com/gpu", "0"),
    "/etc/cdi/old.json": JSON.stringify({
      ...JSON.parse(spec("v.com/o", "x")),
      cdiVersion: "0.2.0",
    }),
    "/var/run/cdi/nic.yaml": 'cdiVersion: "0.6.0"\nkind: v.com/nic\ndevices:\n  - name: a\n' +
      "    containerEdits:\n      deviceNodes: [{path: /dev/nic0}]\n",
    "/var/run/cdi/ok.json": spec("v.com/ok", "z", { deviceNodes: [{ path: "/dev/null" }] }),
  };
  const stat: DoctorHost["stat"] = (path) =>
    Promise.resolve(
      path === "/dev/null"
        ? { isFile: false, isDirectory: false, isSocket: false, mode: 0o666 }
        : undefined,
    );
  const findings = await runDoctor(config(), fakeHost({ files, stat }));
  const cdi = findings.filter((f) => f.check === "cdi").map((f) => `${f.severity} ${f.message}`);
  assert.deepEqual(cdi, [
    'warn CDI spec file /etc/cdi/old.json is left out: cdiVersion "0.2.0" is not supported',
    "warn CDI device v.com/gpu=0 is defined in both /etc/cdi/a.json and /etc/cdi/b.json",
    "warn Device node /dev/nic0 of CDI devices v.com/nic=a is not on this host",
  ]);
  const off = await runDoctor(config((c) => c.enableCdi = false), fakeHost({ files }));
  assert.deepEqual(off.filter((f) => f.check === "cdi").map((f) => f.severity), ["ok"]);
});

Deno.test("a missing runtime and conmon fail with the fix", async () => {
  const host = fakeHost({ isExecutable: (p) => Promise.resolve(p.startsWith("/usr/lib/cni/")) });
  const findings = await runDoctor(config(), host);
  const fails = only(findings, "fail").map((f) => `${f.check}: ${f.message} | ${f.fix}`);
  assert.deepEqual(fails, [
    "runtime: /usr/sbin/runc is missing or not executable | apt-get install runc, or set [runtime] path in the configuration",
    "conmon: /usr/bin/conmon is missing or not executable | apt-get install conmon, or set [conmon] path in the configuration",
    "pause: /usr/bin/catatonit is missing or not executable | apt-get install catatonit, or set [pause] binary or [pause] image",
  ]);
  assert.equal(anyFailed(findings), true);
  assert.match(formatReport(findings), /^fail {2}runtime .*\n {18}fix: apt-get install runc/m);
});

Deno.test("CNI: a broken file is skipped with a warning, a missing plugin fails", async (t) => {
  await t.step("invalid JSON before a valid list", async () => {
    const host = fakeHost({ files: { "/etc/cni/net.d/05-bad.conflist": "{not json" } });
    const findings = await runDoctor(config(), host);
    const warn = only(findings, "warn").find((f) => f.check === "cni");
    assert.match(
      warn?.message ?? "",
      /Invalid network config skipped: .*05-bad\.conflist: Invalid JSON/,
    );
    assert.ok(findings.some((f) => f.check === "cni" && f.severity === "ok"));
  });
  await t.step("a plugin in no plugin dir", async () => {
    const list = JSON.stringify({ cniVersion: "1.0.0", name: "x", plugins: [{ type: "calico" }] });
    const host = fakeHost({ files: { "/etc/cni/net.d/10-pod.conflist": list } });
    const fail = only(await runDoctor(config(), host), "fail");
    assert.equal(fail.length, 1);
    assert.match(
      fail[0]!.message,
      /plugin "calico" is in none of \/usr\/lib\/cni, \/opt\/cni\/bin/,
    );
  });
  await t.step("a cniVersion the plugins do not support", async () => {
    const list = JSON.stringify({ cniVersion: "1.1.0", name: "x", plugins: [{ type: "bridge" }] });
    const host = fakeHost({ files: { "/etc/cni/net.d/10-pod.conflist": list } });
    const fail = only(await runDoctor(config(), host), "fail");
    assert.match(
      fail[0]!.message,
      /"bridge" does not support cniVersion 1\.1\.0 \(it supports 0\.4\.0, 1\.0\.0\)/,
    );
  });
  await t.step("no config at all is a warning (NetworkReady=false)", async () => {
    const host = fakeHost({ readDir: () => Promise.reject(new Deno.errors.NotFound("x")) });
    const warn = only(await runDoctor(config(), host), "warn");
    assert.match(warn[0]!.message, /\/etc\/cni\/net\.d does not exist/);
  });
});

Deno.test("cgroups: hybrid warns, missing controllers and a systemd manager without systemd fail", async () => {
  const hybrid = fakeHost({
    cgroupLayout: () =>
      Promise.resolve({
        v1: { cpu: "/sys/fs/cgroup/cpu", pids: "/sys/fs/cgroup/pids", cpuset: "/c", hugetlb: "/h" },
        v2: "/sys/fs/cgroup/unified",
        v2Controllers: [],
      }),
  });
  const findings = await runDoctor(config((c) => c.cgroupManager = "systemd"), hybrid);
  const cg = findings.filter((f) => f.check === "cgroups").map((f) => `${f.severity} ${f.message}`);
  assert.match(cg[0]!, /^warn Hybrid layout .*crun refuses it/);
  assert.match(cg[1]!, /^fail Controllers a pod needs are missing: memory$/);
  assert.match(cg[2]!, /^fail cgroup_manager is "systemd" but systemd is not PID 1$/);
});

Deno.test("privileges: what a missing capability costs", async (t) => {
  await t.step("CAP_SYS_RESOURCE: a warning about oom_score_adj", async () => {
    const host = fakeHost({ capEff: () => Promise.resolve(ALL_CAPS & ~CAP_SYS_RESOURCE) });
    const warn = only(await runDoctor(config((c) => c.restrictOomScoreAdj = true), host), "warn");
    assert.equal(warn.length, 1);
    assert.match(warn[0]!.message, /CAP_SYS_RESOURCE is missing: an oom_score_adj below/);
  });
  await t.step("CAP_SYS_RESOURCE without the restriction: containers fail", async () => {
    const host = fakeHost({ capEff: () => Promise.resolve(ALL_CAPS & ~CAP_SYS_RESOURCE) });
    const warn = only(await runDoctor(config((c) => c.restrictOomScoreAdj = false), host), "warn");
    assert.match(warn[0]!.message, /restrict_oom_score_adj = false: such containers fail/);
    assert.match(warn[0]!.fix ?? "", /set restrict_oom_score_adj = true/);
  });
  await t.step("CAP_SYS_ADMIN and root: failures", async () => {
    const host = fakeHost({
      capEff: () => Promise.resolve(ALL_CAPS & ~CAP_SYS_ADMIN),
      uid: () => 1000,
    });
    const fail = only(await runDoctor(config(), host), "fail").map((f) => f.message);
    assert.deepEqual(fail, [
      "Running as uid 1000, not root",
      "CAP_SYS_ADMIN is missing: no mounts or namespaces: no pod runs",
    ]);
  });
});

Deno.test("storage: a failing overlay mount and low space", async () => {
  const host = fakeHost({
    tryOverlay: () => Promise.reject(new Error("mount overlay: EINVAL")),
    space: (path) =>
      Promise.resolve({
        available: path === "/var/lib/ocid" ? 0.5 * 1024 ** 3 : 3 * 1024 ** 3,
        total: 100 * 1024 ** 3,
        type: 0,
      }),
  });
  const findings = (await runDoctor(config(), host)).filter((f) => f.check !== "cni");
  const lines = findings.filter((f) => f.severity !== "ok").map((f) =>
    `${f.severity} ${f.message}`
  );
  assert.deepEqual(lines, [
    "fail An overlay mount under /var/lib/ocid failed: mount overlay: EINVAL",
    "fail 0.5 GiB free of 100.0 GiB for root /var/lib/ocid",
    "warn 3.0 GiB free of 100.0 GiB for runroot /run/ocid",
  ]);
  const vfs = await runDoctor(config((c) => c.image.storageDriver = "vfs"), host);
  assert.ok(!vfs.some((f) => /overlay mount/.test(f.message)));
});

Deno.test("registries.conf that does not parse fails, a missing one is fine", async () => {
  const broken = fakeHost({ files: { "/etc/containers/registries.conf": "[[registry]\nx" } });
  const fail = only(await runDoctor(config(), broken), "fail");
  assert.equal(fail.length, 1);
  assert.equal(fail[0]!.check, "registries");
  assert.match(fail[0]!.fix ?? "", /containers-registries\.conf\(5\)/);
  const missing = fakeHost({
    readTextFile: (p) =>
      p.endsWith("registries.conf")
        ? Promise.reject(new Deno.errors.NotFound(p))
        : fakeHost().readTextFile(p),
  });
  const ok = (await runDoctor(config(), missing)).find((f) => f.check === "registries");
  assert.equal(ok?.severity, "ok");
});

Deno.test("seccomp_profile: a file that does not parse fails, one that does is named", async () => {
  const path = "/etc/ocid/seccomp.json";
  const seccomp = async (files: Record<string, string>) =>
    (await runDoctor(config((c) => c.seccompProfile = path), fakeHost({ files }))).filter((f) =>
      f.check === "seccomp"
    ).map((f) => `${f.severity} ${f.message}`);
  assert.deepEqual(await seccomp({ [path]: '{"defaultAction":"SCMP_ACT_ERRNO"}' }), [
    `ok RuntimeDefault is ${path}`,
  ]);
  const [bad] = await seccomp({ [path]: '{"syscalls":[]}' });
  assert.match(bad!, /^fail seccomp_profile: .*defaultAction/);
  const [missing] = await seccomp({});
  assert.match(missing!, /^fail seccomp_profile: /);
  const builtIn = (await runDoctor(config(), fakeHost())).filter((f) => f.check === "seccomp");
  assert.deepEqual(builtIn.map((f) => f.severity), ["ok"]);
});

Deno.test("signatures: the policy and its keys parse; a namespace's bad file is a warning", async () => {
  const path = "/etc/containers/policy.json";
  const dir = "/etc/ocid/policies";
  const { publicKey } = generateKeyPairSync("ed25519");
  const key = publicKey.export({ type: "spki", format: "pem" }) as string;
  const signed = JSON.stringify({
    default: [{ type: "reject" }],
    transports: { docker: { "quay.io/team": [{ type: "sigstoreSigned", keyPath: "/etc/k.pub" }] } },
  });
  const signatures = async (files: Record<string, string>, withDir = false) =>
    (await runDoctor(
      config((c) => {
        c.image.signaturePolicy = path;
        if (withDir) c.image.signaturePolicyDir = dir;
      }),
      fakeHost({ files }),
    )).filter((f) => f.check === "signatures").map((f) => `${f.severity} ${f.message}`);
  assert.deepEqual(await signatures({ [path]: signed, "/etc/k.pub": key }), [
    `ok ${path}: 1 docker scopes and a default`,
  ]);
  const [noKey] = await signatures({ [path]: signed });
  assert.match(noKey!, /^fail signature_policy: Invalid signature policy .*\[0\]/);
  const [broken] = await signatures({ [path]: "{" });
  assert.match(broken!, /^fail signature_policy: .*not JSON/);
  assert.deepEqual(
    await signatures({
      [path]: signed,
      "/etc/k.pub": key,
      [`${dir}/team-a.json`]: '{"default":[{"type":"insecureAcceptAnything"}]}',
      [`${dir}/team-b.json`]: '{"default":[]}',
    }, true),
    [
      `ok ${path}: 1 docker scopes and a default`,
      `warn Invalid signature policy "${dir}/team-b.json": default must be a non-empty array of requirements`,
      `ok 2 namespace policies in ${dir}`,
    ],
  );
  const none = (await runDoctor(config(), fakeHost())).filter((f) => f.check === "signatures");
  assert.deepEqual(none.map((f) => `${f.severity} ${f.message}`), [
    "ok No signature policy: every image is accepted",
  ]);
});

Deno.test("auth: global_auth_file parses when it is there", async () => {
  const path = "/var/lib/kubelet/config.json";
  const auth = async (files: Record<string, string>, set = true) =>
    (await runDoctor(
      config((c) => {
        if (set) c.image.globalAuthFile = path;
      }),
      fakeHost({ files }),
    )).filter((f) => f.check === "auth").map((f) => `${f.severity} ${f.message}`);
  assert.deepEqual(await auth({}, false), [
    "ok No global_auth_file: pulls use their own credentials",
  ]);
  assert.deepEqual(await auth({}), [`ok ${path} is absent: no node credentials`]);
  assert.deepEqual(await auth({ [path]: '{"auths":{"quay.io":{"auth":"dTpw"}}}' }), [
    `ok ${path}: credentials for 1 registries or repositories`,
  ]);
  const [bad] = await auth({ [path]: '{"auths": 3}' });
  assert.match(bad!, /^fail Invalid registry credentials file .*"auths" must be an object/);
});

Deno.test("hooks: a hook file that does not parse is a warning naming it", async () => {
  const dir = "/usr/share/containers/oci/hooks.d";
  const good = JSON.stringify({
    version: "1.0.0",
    hook: { path: "/usr/bin/hook" },
    when: { always: true },
    stages: ["prestart"],
  });
  const hooks = async (files: Record<string, string>) =>
    (await runDoctor(config(), fakeHost({ files }))).filter((f) => f.check === "hooks").map((f) =>
      `${f.severity} ${f.message}`
    );
  assert.deepEqual(await hooks({}), [`ok 0 OCI hook files in ${dir}`]);
  assert.deepEqual(await hooks({ [`${dir}/10-a.json`]: good, [`${dir}/README`]: "x" }), [
    `ok 1 OCI hook files in ${dir}`,
  ]);
  const [bad] = await hooks({ [`${dir}/10-a.json`]: good, [`${dir}/20-b.json`]: "{" });
  assert.match(bad!, /^warn .*20-b\.json: Invalid OCI hook file "20-b\.json": not JSON/);
});

Deno.test("socket: another runtime, a world-writable dir, a file in the way", async (t) => {
  const socketFindings = async (host: DoctorHost) =>
    (await runDoctor(config(), host)).filter((f) => f.check === "socket").map((f) =>
      `${f.severity} ${f.message}`
    );
  await t.step("containerd answers on the socket", async () => {
    const host = fakeHost({
      probeSocket: () =>
        Promise.resolve({ kind: "cri", runtimeName: "containerd", runtimeVersion: "1.6.20" }),
    });
    assert.deepEqual(
      (await socketFindings(host))[1],
      "fail Another runtime (containerd 1.6.20) serves on /run/ocid/ocid.sock",
    );
  });
  await t.step("a stale socket is replaced", async () => {
    const host = fakeHost({
      probeSocket: () => Promise.resolve({ kind: "stale", error: "ECONNREFUSED" }),
    });
    assert.match((await socketFindings(host))[1]!, /^ok .*stale socket/);
  });
  await t.step("mode 0777 and a regular file", async () => {
    const host = fakeHost({
      stat: () =>
        Promise.resolve({ isFile: false, isDirectory: true, isSocket: false, mode: 0o777 }),
      probeSocket: () => Promise.resolve({ kind: "not-socket" }),
    });
    assert.deepEqual(await socketFindings(host), [
      "fail /run/ocid is world-writable (mode 0777): anyone may replace the socket",
      "fail /run/ocid/ocid.sock exists and is not a socket",
    ]);
  });
});

Deno.test("a check that throws becomes a failing finding; the others still run", async () => {
  const host = fakeHost({ cgroupLayout: () => Promise.reject(new Error("mountinfo unreadable")) });
  const findings = await runDoctor(config(), host);
  assert.deepEqual(only(findings, "fail"), [
    { severity: "fail", check: "cgroups", message: "The check failed: mountinfo unreadable" },
  ]);
  assert.ok(findings.some((f) => f.check === "socket"));
});
