import assert from "node:assert/strict";
import { findRuntimeHandler, loadConfig, runtimeHandlers } from "../../../src/config/mod.ts";
import { fakeFs, plainHost } from "./_fakes.ts";

const MAIN = "/etc/ocid/ocid.conf";
const DROPS = "/etc/ocid/ocid.conf.d";

async function load(files: Record<string, string>) {
  return await loadConfig({ fs: fakeFs(files), host: plainHost });
}

Deno.test("[runtimes.<handler>] tables add handlers with CRI-O's keys and defaults", async () => {
  const config = await load({
    [MAIN]: `
default_runtime = "runc-b"
[runtimes.runc-b]
runtime_path = "/usr/sbin/runc"
runtime_root = "/run/b"
allowed_annotations = ["run.oci."]
[runtimes.crun]
`,
    [`${DROPS}/10.conf`]: `[runtimes.runc-b]\nprivileged_without_host_devices = true\n`,
  });
  assert.equal(config.defaultRuntime, "runc-b");
  assert.deepEqual(config.runtimes, {
    "runc-b": {
      runtimePath: "/usr/sbin/runc",
      runtimeRoot: "/run/b",
      runtimeType: "oci",
      monitorPath: "/usr/bin/conmon",
      allowedAnnotations: ["run.oci."],
      privilegedWithoutHostDevices: true,
    },
    crun: {
      runtimePath: "/usr/bin/crun",
      runtimeRoot: "/run/ocid/crun",
      runtimeType: "oci",
      monitorPath: "/usr/bin/conmon",
      allowedAnnotations: [],
      privilegedWithoutHostDevices: false,
    },
  });
  assert.deepEqual([...runtimeHandlers(config).keys()], ["crun", "runc", "runc-b"]);
  assert.equal(runtimeHandlers(config).get("runc")?.runtimeRoot, "/run/ocid/runc");
  assert.equal(findRuntimeHandler(config, "")?.name, "runc-b");
  assert.equal(findRuntimeHandler(config, "runc")?.handler.runtimePath, "/usr/sbin/runc");
  assert.equal(findRuntimeHandler(config, "kata"), undefined);
});

Deno.test("a [runtimes.<runtime.name>] table replaces the [runtime] table's handler", async () => {
  const config = await load({ [MAIN]: `[runtimes.runc]\nruntime_root = "/run/elsewhere"\n` });
  assert.equal(runtimeHandlers(config).get("runc")?.runtimeRoot, "/run/elsewhere");
  assert.equal(config.defaultRuntime, "runc");
});

Deno.test("bad handler tables are refused naming the file, handler and key", async (t) => {
  const cases: Array<[string, RegExp]> = [
    [`[runtimes.kata]\n`, /Runtime handler "kata" needs runtime_path/],
    [`[runtimes.Bad_Name]\nruntime_path = "/x"\n`, /Invalid runtime handler name "Bad_Name"/],
    [
      `[runtimes.x]\nruntime_path = "/x"\nruntime_type = "vm"\n`,
      /"runtimes\.x\.runtime_type" .*expected "oci"/,
    ],
    [`[runtimes.x]\nruntime_path = "rel"\n`, /"runtimes\.x\.runtime_path" .*absolute path/],
    [
      `[runtimes.x]\nruntime_path = "/x"\nbogus = 1\n`,
      /Unknown key "runtimes\.x\.bogus" in \/etc\/ocid\/ocid\.conf/,
    ],
    [`runtimes = 3\n`, /expected tables/],
    [
      `default_runtime = "kata"\n`,
      /default_runtime "kata" names no runtime handler; configured: "runc"/,
    ],
  ];
  for (const [text, pattern] of cases) {
    await t.step(text.split("\n")[0]!, async () => {
      await assert.rejects(load({ [MAIN]: text }), pattern);
    });
  }
});
