import assert from "node:assert/strict";
import { resolve } from "node:path";
import { parseCommandLine, runtimeNameFromPath, usage } from "../../../src/config/mod.ts";

Deno.test("parseCommandLine() defaults to serve with no flags", () => {
  assert.deepEqual(parseCommandLine([]), { command: "serve", flags: {} });
});

Deno.test("parseCommandLine() reads the subcommands", () => {
  assert.equal(parseCommandLine(["serve"]).command, "serve");
  assert.equal(parseCommandLine(["config"]).command, "config");
  assert.equal(parseCommandLine(["doctor"]).command, "doctor");
  assert.equal(parseCommandLine(["version"]).command, "version");
  assert.equal(parseCommandLine(["help"]).command, "help");
  assert.equal(parseCommandLine(["config", "--help"]).command, "help");
  assert.equal(parseCommandLine(["-h"]).command, "help");
  assert.equal(parseCommandLine(["--version"]).command, "version");
});

Deno.test("parseCommandLine() reads every flag", () => {
  const { command, flags } = parseCommandLine([
    "--config=/etc/x/ocid.conf",
    "--root",
    "/r",
    "--runroot",
    "/rr",
    "--listen",
    "unix:///tmp/s.sock",
    "--log-level",
    "debug",
    "--cni-config-dir",
    "/cni",
    "--cni-plugin-dir",
    "/p1:/p2",
    "--cni-plugin-dir",
    "/p3",
    "--runtime",
    "/usr/bin/crun",
    "--conmon",
    "/c/conmon",
    "--pause-image",
    "localhost:5000/pause:3.9",
    "--registries-conf",
    "/reg.conf",
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "systemd",
    "--stream-address",
    "127.0.0.2",
    "--stream-port",
    "10010",
    "--metrics-address",
    "::1",
    "--metrics-port",
    "9537",
    "config",
  ]);
  assert.equal(command, "config");
  assert.deepEqual(flags, {
    config: "/etc/x/ocid.conf",
    root: "/r",
    runroot: "/rr",
    listen: "/tmp/s.sock",
    logLevel: "debug",
    cniConfigDir: "/cni",
    cniPluginDirs: ["/p1", "/p2", "/p3"],
    runtime: "/usr/bin/crun",
    conmon: "/c/conmon",
    pauseImage: "localhost:5000/pause:3.9",
    registriesConf: "/reg.conf",
    storageDriver: "vfs",
    cgroupManager: "systemd",
    streamAddress: "127.0.0.2",
    streamPort: 10010,
    metricsAddress: "::1",
    metricsPort: 9537,
  });
});

Deno.test("parseCommandLine() resolves relative paths against the working directory", () => {
  const { flags } = parseCommandLine(["--root", "state", "--listen", "ocid.sock"]);
  assert.equal(flags.root, resolve("state"));
  assert.equal(flags.listen, resolve("ocid.sock"));
});

Deno.test("parseCommandLine() names the bad flag", async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [["--bogus"], /Unknown flag "--bogus"/],
    [["--root"], /--root/],
    [["--log-level", "loud"], /"--log-level": expected one of "debug", "info", "warn", "error"/],
    [["--storage-driver", "btrfs"], /"--storage-driver": expected "overlay" or "vfs"/],
    [["--cgroup-manager", "x"], /"--cgroup-manager"/],
    [["--runtime", "/usr/bin/youki"], /"--runtime": expected a path whose file name/],
    [["--root="], /"--root": expected a path/],
    [["--cni-plugin-dir", ":"], /"--cni-plugin-dir"/],
    [["--stream-address", "localhost"], /"--stream-address": expected an IPv4 or IPv6 address/],
    [["--stream-port", "70000"], /"--stream-port": expected a port number from 0 to 65535/],
    [["--stream-port", "-1"], /--stream-port/],
    [["--metrics-address", "x"], /"--metrics-address": expected an IPv4 or IPv6 address/],
    [["--metrics-port", "65536"], /"--metrics-port": expected a port number from 0 to 65535/],
    [["launch"], /Unknown command "launch"/],
    [["serve", "now"], /Unexpected argument "now"/],
  ];
  for (const [args, pattern] of cases) {
    await t.step(args.join(" "), () => {
      assert.throws(() => parseCommandLine(args), pattern);
    });
  }
});

Deno.test("runtimeNameFromPath() infers the runtime from the file name", () => {
  assert.equal(runtimeNameFromPath("/usr/sbin/runc"), "runc");
  assert.equal(runtimeNameFromPath("/usr/bin/crun"), "crun");
  assert.equal(runtimeNameFromPath("/opt/bin/runc.amd64"), "runc");
  assert.equal(runtimeNameFromPath("/opt/bin/kata"), undefined);
});

Deno.test("usage() mentions every flag", () => {
  const text = usage();
  for (
    const flag of [
      "--config",
      "--root",
      "--runroot",
      "--listen",
      "--log-level",
      "--cni-config-dir",
      "--stream-address",
      "--stream-port",
      "--metrics-address",
      "--metrics-port",
      "--cni-plugin-dir",
      "--runtime",
      "--conmon",
      "--pause-image",
      "--registries-conf",
      "--storage-driver",
      "--cgroup-manager",
      "--help",
      "--version",
    ]
  ) assert.match(text, new RegExp(`${flag}\\b`));
});
