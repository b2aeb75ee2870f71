import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type Config,
  configToToml,
  defaultConfig,
  loadConfig,
  tomlString,
} from "../../../src/config/mod.ts";
import { fakeFs, plainHost, systemdHost } from "./_fakes.ts";

async function reload(text: string): Promise<Config> {
  return await loadConfig({ fs: fakeFs({ "/etc/ocid/ocid.conf": text }), host: plainHost });
}

Deno.test("configToToml() round-trips the defaults through loadConfig()", async () => {
  const config = defaultConfig({ host: plainHost });
  assert.deepEqual(await reload(configToToml(config)), config);
});

Deno.test("configToToml() round-trips a changed configuration", async () => {
  const config = defaultConfig({ host: systemdHost }); // differs from plainHost defaults
  config.root = '/srv/"quoted" dir\\x';
  config.runroot = "/run/ünïcode";
  config.listen = "/tmp/other.sock"; // not derived from runroot
  config.runtime = { ...config.runtime, name: "crun", path: "/usr/sbin/runc", root: "/elsewhere" };
  config.defaultRuntime = "runc-b";
  config.runtimes = {
    "runc-b": {
      runtimePath: "/usr/sbin/runc",
      runtimeRoot: "/run/b",
      runtimeType: "oci",
      monitorPath: "/opt/conmon",
      allowedAnnotations: ["io.kubernetes.cri-o.Devices", "run.oci."],
      privilegedWithoutHostDevices: true,
    },
  };
  config.pause.args = ["-P", "tab\there", "line\nbreak", "del\x7f"];
  config.pause.image = "";
  config.image.insecureRegistries = [];
  config.image.pullProgressTimeoutSeconds = 3600;
  config.logLevel = "debug";
  const text = configToToml(config);
  assert.deepEqual(await reload(text), config);
  assert.deepEqual(await reload(configToToml(config, { comments: true })), config);
});

Deno.test("configToToml() comments out the keys it is told to", async () => {
  const config = defaultConfig({ host: plainHost });
  config.runroot = "/run/z";
  const text = configToToml(config, { commentOut: ["runtime.root", "listen"] });
  assert.match(text, /^# listen = "\/run\/ocid\/ocid.sock"$/m);
  const back = await reload(text);
  assert.equal(back.listen, "/run/z/ocid.sock");
  assert.equal(back.runtime.root, "/run/z/runc");
});

Deno.test("tomlString() escapes what TOML requires", () => {
  assert.equal(tomlString('a"b\\c\n\x7f'), '"a\\"b\\\\c\\n\\u007f"');
});

Deno.test("scripts/ocid.conf.example loads to the defaults", async () => {
  const path = fileURLToPath(new URL("../../../scripts/ocid.conf.example", import.meta.url));
  for (const host of [plainHost, systemdHost]) {
    const config = await loadConfig({ configPath: path, host });
    assert.deepEqual(config, defaultConfig({ host }));
  }
});

Deno.test("scripts/ocid.conf.example shows every key", async () => {
  const path = fileURLToPath(new URL("../../../scripts/ocid.conf.example", import.meta.url));
  const example = await Deno.readTextFile(path);
  const keyLines = configToToml(defaultConfig({ host: plainHost })).split("\n")
    .filter((line) => line.includes(" = "));
  for (const line of keyLines) {
    assert.ok(
      example.includes(`\n${line}\n`) || example.includes(`\n# ${line}\n`),
      `ocid.conf.example lacks ${JSON.stringify(line)}`,
    );
  }
});
