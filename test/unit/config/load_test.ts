import assert from "node:assert/strict";
import {
  type Config,
  ConfigError,
  DEFAULT_CONFIG_PATH,
  defaultConfig,
  loadConfig,
} from "../../../src/config/mod.ts";
import { fakeFs, plainHost } from "./_fakes.ts";

const MAIN = "/etc/ocid/ocid.conf";
const DROPS = "/etc/ocid/ocid.conf.d";

function expected(change: (c: Config) => void): Config {
  const c = defaultConfig({ host: plainHost });
  change(c);
  return c;
}

Deno.test("loadConfig() with no files returns the defaults", async () => {
  const fs = fakeFs({});
  const config = await loadConfig({ fs, host: plainHost });
  assert.deepEqual(config, defaultConfig({ host: plainHost }));
  assert.deepEqual(fs.reads, [DEFAULT_CONFIG_PATH]);
});

Deno.test("loadConfig() reads every key of the TOML file", async () => {
  const fs = fakeFs({
    [MAIN]: `
root = "/srv/ocid"
runroot = "/run/o"
listen = "unix:///run/o/cri.sock"
log_level = "debug"
pod_log_dir = "/var/log/pods2"
stream_address = "::1"
stream_port = 10010
metrics_address = "0.0.0.0"
metrics_port = 9090
cgroup_manager = "systemd"
restrict_oom_score_adj = false
drop_infra_ctr = false
sweep_interval = 120
default_env = ["HTTP_PROXY=http://proxy:3128", "EMPTY="]
default_capabilities = ["chown", "CAP_KILL", "NET_BIND_SERVICE", "kill"]
seccomp_profile = "/etc/ocid/seccomp.json"
default_ulimits = ["nofile=4096:8192", "nproc=512"]
default_sysctls = ["net.ipv4.ping_group_range=0 2147483647", "kernel.shm_rmid_forced=1"]
device_ownership_from_security_context = true
read_only = true
absent_mount_sources_to_reject = ["/etc/hostname", "/var/lib/kubelet/"]
hooks_dir = ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"]
enable_cdi = false
cdi_spec_dirs = ["/opt/cdi", "/run/cdi"]

[runtime]
name = "crun"
path = "/opt/crun"
root = "/run/crun-state"
allowed_annotations = ["run.oci.keep_original_groups"]

[conmon]
path = "/opt/conmon"
log_level = "warn"

[pause]
binary = "/opt/pause"
args = []
image = "localhost:5000/pause:3.9"

[cni]
config_dir = "/opt/cni/net.d"
plugin_dirs = ["/opt/cni/bin"]
use_internal_loopback = false
skip_idle_portmap = false

[image]
registries_conf = "/opt/registries.conf"
insecure_registries = []
pinned_images = ["registry.k8s.io/pause:3.10", "quay.io/critical/*", "*coredns*"]
global_auth_file = "/var/lib/kubelet/config.json"
signature_policy = "/etc/containers/policy.json"
signature_policy_dir = "/etc/crio/policies"
image_volumes = "bind"
max_concurrent_downloads = 8
pull_progress_timeout = 5
storage_driver = "vfs"
`,
  });
  const config = await loadConfig({ fs, host: plainHost });
  assert.deepEqual(config, {
    root: "/srv/ocid",
    runroot: "/run/o",
    listen: "/run/o/cri.sock",
    logLevel: "debug",
    podLogDir: "/var/log/pods2",
    streamAddress: "::1",
    streamPort: 10010,
    metricsAddress: "0.0.0.0",
    metricsPort: 9090,
    runtime: {
      name: "crun",
      path: "/opt/crun",
      root: "/run/crun-state",
      allowedAnnotations: ["run.oci.keep_original_groups"],
    },
    defaultRuntime: "crun",
    runtimes: {},
    conmon: { path: "/opt/conmon", logLevel: "warn" },
    pause: { binary: "/opt/pause", args: [], image: "localhost:5000/pause:3.9" },
    cni: {
      configDir: "/opt/cni/net.d",
      pluginDirs: ["/opt/cni/bin"],
      useInternalLoopback: false,
      skipIdlePortmap: false,
    },
    cgroupManager: "systemd",
    restrictOomScoreAdj: false,
    dropInfraCtr: false,
    sweepIntervalSeconds: 120,
    defaultEnv: ["HTTP_PROXY=http://proxy:3128", "EMPTY="],
    defaultCapabilities: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    seccompProfile: "/etc/ocid/seccomp.json",
    defaultUlimits: ["nofile=4096:8192", "nproc=512"],
    defaultSysctls: ["net.ipv4.ping_group_range=0 2147483647", "kernel.shm_rmid_forced=1"],
    deviceOwnershipFromSecurityContext: true,
    readOnly: true,
    absentMountSourcesToReject: ["/etc/hostname", "/var/lib/kubelet/"],
    hooksDir: ["/usr/share/containers/oci/hooks.d", "/etc/containers/oci/hooks.d"],
    enableCdi: false,
    cdiSpecDirs: ["/opt/cdi", "/run/cdi"],
    image: {
      registriesConf: "/opt/registries.conf",
      insecureRegistries: [],
      pinnedImages: ["registry.k8s.io/pause:3.10", "quay.io/critical/*", "*coredns*"],
      globalAuthFile: "/var/lib/kubelet/config.json",
      signaturePolicy: "/etc/containers/policy.json",
      signaturePolicyDir: "/etc/crio/policies",
      imageVolumes: "bind",
      maxConcurrentDownloads: 8,
      pullProgressTimeoutSeconds: 5,
      storageDriver: "vfs",
    },
  });
});

Deno.test("loadConfig() derives runtime path, runtime root and listen after merging", async (t) => {
  await t.step("from runroot and runtime name", async () => {
    const fs = fakeFs({ [MAIN]: `runroot = "/run/x"\n[runtime]\nname = "crun"\n` });
    const config = await loadConfig({ fs, host: plainHost });
    assert.equal(config.listen, "/run/x/ocid.sock");
    assert.deepEqual(config.runtime, {
      name: "crun",
      path: "/usr/bin/crun",
      root: "/run/x/crun",
      allowedAnnotations: [],
    });
  });
  await t.step("a runroot from a drop-in still moves the derived paths", async () => {
    const fs = fakeFs({ [MAIN]: `log_level = "warn"\n`, [`${DROPS}/10.conf`]: `runroot = "/r"\n` });
    const config = await loadConfig({ fs, host: plainHost });
    assert.equal(config.listen, "/r/ocid.sock");
    assert.equal(config.runtime.root, "/r/runc");
  });
  await t.step("a runtime path alone names the runtime", async () => {
    const fs = fakeFs({ [MAIN]: `[runtime]\npath = "/opt/bin/crun"\n` });
    const config = await loadConfig({ fs, host: plainHost });
    assert.deepEqual(config.runtime, {
      name: "crun",
      path: "/opt/bin/crun",
      root: "/run/ocid/crun",
      allowedAnnotations: [],
    });
  });
});

Deno.test("loadConfig() applies drop-ins in name order, key by key", async () => {
  const fs = fakeFs({
    [MAIN]: `root = "/main"\nlog_level = "warn"\n[cni]\nplugin_dirs = ["/a"]\n`,
    [`${DROPS}/20-second.conf`]: `root = "/second"\n[conmon]\nlog_level = "error"\n`,
    [`${DROPS}/10-first.conf`]: `root = "/first"\n[cni]\nconfig_dir = "/first/net.d"\n`,
    [`${DROPS}/30-ignored.toml`]: `root = "/ignored"\n`,
    [`${DROPS}/99-last.conf`]: `[cni]\nplugin_dirs = ["/b", "/c"]\n`,
  });
  const config = await loadConfig({ fs, host: plainHost });
  assert.deepEqual(
    config,
    expected((c) => {
      c.root = "/second";
      c.logLevel = "warn";
      c.conmon.logLevel = "error";
      c.cni.configDir = "/first/net.d";
      c.cni.pluginDirs = ["/b", "/c"];
    }),
  );
  assert.ok(!fs.reads.includes(`${DROPS}/30-ignored.toml`));
});

Deno.test("loadConfig() reads drop-ins even without the main file", async () => {
  const fs = fakeFs({ [`${DROPS}/a.conf`]: `log_level = "error"\n` });
  const config = await loadConfig({ fs, host: plainHost });
  assert.equal(config.logLevel, "error");
});

Deno.test("loadConfig() applies flags over the files", async () => {
  const fs = fakeFs({
    [MAIN]: `root = "/main"\nrunroot = "/run/main"\n[runtime]\npath = "/usr/sbin/runc"\n`,
    [`${DROPS}/a.conf`]: `[image]\nstorage_driver = "overlay"\n[cni]\nplugin_dirs = ["/x"]\n`,
  });
  const config = await loadConfig({
    fs,
    host: plainHost,
    flags: {
      root: "/flag",
      runtime: "/usr/local/bin/crun",
      storageDriver: "vfs",
      cniPluginDirs: ["/f1", "/f2"],
      listen: "/tmp/flag.sock",
    },
  });
  assert.deepEqual(
    config,
    expected((c) => {
      c.root = "/flag";
      c.runroot = "/run/main";
      c.listen = "/tmp/flag.sock";
      c.runtime = {
        ...c.runtime,
        name: "crun",
        path: "/usr/local/bin/crun",
        root: "/run/main/crun",
      };
      c.defaultRuntime = "crun";
      c.image.storageDriver = "vfs";
      c.cni.pluginDirs = ["/f1", "/f2"];
    }),
  );
});

Deno.test("loadConfig() reads the file named by --config and its drop-ins", async () => {
  const fs = fakeFs({
    "/tmp/t/ocid.conf": `root = "/t"\n`,
    "/tmp/t/ocid.conf.d/1.conf": `runroot = "/run/t"\n`,
    [MAIN]: `root = "/not-this"\n`,
  });
  const config = await loadConfig({ fs, host: plainHost, flags: { config: "/tmp/t/ocid.conf" } });
  assert.equal(config.root, "/t");
  assert.equal(config.runroot, "/run/t");
  const again = await loadConfig({ fs, host: plainHost, configPath: "/tmp/t/ocid.conf" });
  assert.deepEqual(again, config);
});

Deno.test("loadConfig() fails when an explicit config file is missing", async () => {
  await assert.rejects(
    loadConfig({ fs: fakeFs({}), host: plainHost, flags: { config: "/nope/ocid.conf" } }),
    (err: unknown) =>
      err instanceof ConfigError && /Cannot find configuration file \/nope\/ocid.conf/.test(
        err.message,
      ),
  );
});

Deno.test("loadConfig() names the file and the key of a bad setting", async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    [
      "bad enum",
      `[runtime]\nname = "youki"\n`,
      /^Invalid value for "runtime.name" in \/etc\/ocid\/ocid.conf: expected "runc" or "crun"$/,
    ],
    ["unknown key", `rootdir = "/x"\n`, /^Unknown key "rootdir" in \/etc\/ocid\/ocid.conf$/],
    ["a pinned image pattern with * inside", `[image]\npinned_images = ["a*b"]\n`, /pinned_images/],
    [
      "a pinned image pattern with only a leading *",
      `[image]\npinned_images = ["*b"]\n`,
      /pinned_images/,
    ],
    ["an env entry without a name", `default_env = ["=x"]\n`, /"default_env"/],
    ["an env entry without =", `default_env = ["PROXY"]\n`, /"default_env"/],
    [
      "unknown capability",
      `default_capabilities = ["CAP_FLY"]\n`,
      /^Invalid value for "default_capabilities" in \/etc\/ocid\/ocid.conf: expected an array of capability names/,
    ],
    ["ALL as a default capability", `default_capabilities = ["ALL"]\n`, /"default_capabilities"/],
    [
      "a sysctl that is not namespaced",
      `default_sysctls = ["kernel.core_pattern=|/x"]\n`,
      /^Invalid value for "default_sysctls" in \/etc\/ocid\/ocid.conf: expected an array of "name=value"/,
    ],
    [
      "a sysctl without a value",
      `default_sysctls = ["net.ipv4.ip_forward"]\n`,
      /"default_sysctls"/,
    ],
    [
      "a sysctl named twice",
      `default_sysctls = ["net.ipv4.ip_forward=1", "net.ipv4.ip_forward=0"]\n`,
      /"default_sysctls"/,
    ],
    [
      "bad ulimit",
      `default_ulimits = ["nofile=8192:4096"]\n`,
      /^Invalid value for "default_ulimits" in \/etc\/ocid\/ocid.conf: expected an array of "name=soft\[:hard\]"/,
    ],
    ["unknown table key", `[cni]\nbin_dir = "/x"\n`, /^Unknown key "cni.bin_dir" in /],
    [
      "unknown table",
      `[network]\nx = 1\n`,
      /^Unknown table "\[network\]" in \/etc\/ocid\/ocid.conf$/,
    ],
    ["wrong type", `root = 5\n`, /"root" in \/etc\/ocid\/ocid.conf: expected an absolute path/],
    ["relative path", `root = "var/lib"\n`, /"root" .*: expected an absolute path/],
    ["bool", `restrict_oom_score_adj = "yes"\n`, /"restrict_oom_score_adj" .*true or false/],
    ["string array", `[pause]\nargs = "-P"\n`, /"pause.args" .*an array of strings/],
    ["paths array", `[cni]\nplugin_dirs = ["rel"]\n`, /"cni.plugin_dirs" .*absolute paths/],
    ["seconds", `[image]\npull_progress_timeout = 0\n`, /"image.pull_progress_timeout" /],
    ["fraction", `[image]\npull_progress_timeout = 1.5\n`, /"image.pull_progress_timeout" /],
    ["listen", `listen = "tcp://127.0.0.1:1"\n`, /"listen" .*absolute path or a "unix:\/\/" URL/],
    ["table as value", `runtime = "runc"\n`, /"runtime" in .*: expected a table/],
    ["log level", `log_level = "trace"\n`, /"log_level" .*one of "debug", "info"/],
    ["stream address", `stream_address = "localhost"\n`, /"stream_address" .*IPv4 or IPv6/],
    ["stream port", `stream_port = 65536\n`, /"stream_port" .*port number from 0 to 65535/],
    ["syntax", `root = "/x\n`, /^Cannot parse \/etc\/ocid\/ocid.conf: /],
  ];
  for (const [name, text, pattern] of cases) {
    await t.step(name, async () => {
      await assert.rejects(
        loadConfig({ fs: fakeFs({ [MAIN]: text }), host: plainHost }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `not a ConfigError: ${err}`);
          assert.match(err.message, pattern);
          return true;
        },
      );
    });
  }
  await t.step("in a drop-in, the drop-in is named", async () => {
    const fs = fakeFs({ [MAIN]: "", [`${DROPS}/50-x.conf`]: `[conmon]\nlog_level = 3\n` });
    await assert.rejects(
      loadConfig({ fs, host: plainHost }),
      /Invalid value for "conmon.log_level" in \/etc\/ocid\/ocid.conf.d\/50-x.conf/,
    );
  });
  await t.step("in flags, the flag is named", async () => {
    await assert.rejects(
      loadConfig({ fs: fakeFs({}), host: plainHost, flags: { root: "relative" } }),
      /Invalid value for "--root": expected an absolute path/,
    );
  });
});

Deno.test("loadConfig() reads real files from disk", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-config-" });
  try {
    await Deno.mkdir(`${dir}/ocid.conf.d`);
    await Deno.writeTextFile(`${dir}/ocid.conf`, `root = "/a"\n`);
    await Deno.writeTextFile(`${dir}/ocid.conf.d/b.conf`, `root = "/b"\n`);
    await Deno.writeTextFile(`${dir}/ocid.conf.d/a.conf`, `root = "/a2"\nrunroot = "/run/a"\n`);
    await Deno.mkdir(`${dir}/ocid.conf.d/c.conf`); // a directory: ignored
    const config = await loadConfig({ configPath: `${dir}/ocid.conf`, host: plainHost });
    assert.equal(config.root, "/b");
    assert.equal(config.runroot, "/run/a");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
