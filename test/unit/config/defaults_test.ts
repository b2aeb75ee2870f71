import assert from "node:assert/strict";
import { capEffHas, defaultConfig } from "../../../src/config/mod.ts";
import { plainHost, systemdHost } from "./_fakes.ts";
import { DEFAULT_CAPABILITIES } from "../../../src/spec/default.ts";

Deno.test("defaultConfig() returns the documented defaults", () => {
  const config = defaultConfig({ host: plainHost });
  assert.deepEqual(config, {
    root: "/var/lib/ocid",
    runroot: "/run/ocid",
    listen: "/run/ocid/ocid.sock",
    logLevel: "info",
    podLogDir: "/var/log/ocid/pods",
    streamAddress: "127.0.0.1",
    streamPort: 0,
    metricsAddress: "127.0.0.1",
    metricsPort: 0,
    runtime: {
      name: "runc",
      path: "/usr/sbin/runc",
      root: "/run/ocid/runc",
      allowedAnnotations: [],
    },
    defaultRuntime: "runc",
    runtimes: {},
    conmon: { path: "/usr/bin/conmon", logLevel: "info" },
    pause: { binary: "/usr/bin/catatonit", args: ["-P"], image: "" },
    cni: {
      configDir: "/etc/cni/net.d",
      pluginDirs: ["/usr/lib/cni", "/opt/cni/bin"],
      useInternalLoopback: true,
      skipIdlePortmap: true,
    },
    cgroupManager: "cgroupfs",
    restrictOomScoreAdj: true,
    dropInfraCtr: true,
    sweepIntervalSeconds: 600,
    defaultEnv: [],
    defaultCapabilities: [...DEFAULT_CAPABILITIES],
    seccompProfile: "",
    defaultUlimits: [],
    defaultSysctls: [],
    deviceOwnershipFromSecurityContext: false,
    readOnly: false,
    absentMountSourcesToReject: [],
    hooksDir: ["/usr/share/containers/oci/hooks.d"],
    enableCdi: true,
    cdiSpecDirs: ["/etc/cdi", "/var/run/cdi"],
    image: {
      registriesConf: "/etc/containers/registries.conf",
      insecureRegistries: ["localhost", "127.0.0.1"],
      pinnedImages: [],
      globalAuthFile: "",
      signaturePolicy: "",
      signaturePolicyDir: "",
      imageVolumes: "mkdir",
      maxConcurrentDownloads: 3,
      pullProgressTimeoutSeconds: 60,
      storageDriver: "overlay",
    },
  });
});

Deno.test("defaultConfig() picks systemd and no oom restriction on a capable systemd host", () => {
  const config = defaultConfig({ host: systemdHost });
  assert.equal(config.cgroupManager, "systemd");
  assert.equal(config.restrictOomScoreAdj, false);
});

Deno.test("defaultConfig() returns a fresh object each call", () => {
  const a = defaultConfig({ host: plainHost });
  a.pause.args.push("-x");
  assert.deepEqual(defaultConfig({ host: plainHost }).pause.args, ["-P"]);
});

Deno.test("capEffHas() reads bit 24 of CapEff", () => {
  const status = (capEff: string) => `Name:\tdeno\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\n`;
  assert.equal(capEffHas(status("000001ffffffffff"), 24n), true);
  assert.equal(capEffHas(status("000001fffeffffff"), 24n), false);
  assert.equal(capEffHas(status("0000000001000000"), 24n), true);
  assert.equal(capEffHas("Name:\tdeno\n", 24n), false);
});

Deno.test("defaultConfig() on this machine agrees with /proc/self/status", async () => {
  const status = await Deno.readTextFile("/proc/self/status");
  const config = defaultConfig();
  assert.equal(config.restrictOomScoreAdj, !capEffHas(status, 24n));
});
