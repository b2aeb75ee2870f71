import assert from "node:assert/strict";
import { join } from "node:path";
import { checkSpec, loadCdiRegistry, resolveCdiDevices } from "../../../src/cdi/registry.ts";

async function withDirs(files: Record<string, string>, fn: (root: string) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "ocid-cdi-" });
  try {
    for (const [name, text] of Object.entries(files)) {
      await Deno.mkdir(join(root, name, ".."), { recursive: true });
      await Deno.writeTextFile(join(root, name), text);
    }
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const spec = (kind: string, names: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    cdiVersion: "0.6.0",
    kind,
    devices: names.map((name) => ({ name, containerEdits: { env: [`DEV=${name}`] } })),
    ...extra,
  });

Deno.test("loadCdiRegistry() reads .json and .yaml files; a later dir overrides an earlier", async () => {
  await withDirs({
    "etc/a.json": spec("v.com/gpu", ["0", "1"], { containerEdits: { env: ["SPEC=etc"] } }),
    "etc/sub/b.yaml": 'cdiVersion: "0.5.0"\nkind: v.com/nic\ndevices:\n  - name: eth\n' +
      "    containerEdits:\n      env: [NIC=1]\n",
    "etc/ignored.txt": "not a spec",
    "vendor/nic.yaml": 'cdiVersion: "0.5.0"\nkind: v.com/nic\ndevices:\n  - name: link\n',
    "run/a.json": spec("v.com/gpu", ["1"], { containerEdits: { env: ["SPEC=run"] } }),
  }, async (root) => {
    // A link to a file elsewhere is read as that file.
    await Deno.symlink(join(root, "vendor/nic.yaml"), join(root, "etc/linked.yaml"));
    const registry = await loadCdiRegistry([
      join(root, "etc"),
      join(root, "missing"),
      join(root, "run"),
    ]);
    assert.deepEqual([...registry.devices.keys()].sort(), [
      "v.com/gpu=0",
      "v.com/gpu=1",
      "v.com/nic=eth",
      "v.com/nic=link",
    ]);
    assert.deepEqual(registry.errors, []);
    // Spec edits once per file, before its first device; then the device's.
    assert.deepEqual(resolveCdiDevices(registry, ["v.com/gpu=1", "v.com/gpu=0", "v.com/nic=eth"]), [
      { env: ["SPEC=run"] },
      { env: ["DEV=1"] },
      { env: ["SPEC=etc"] },
      { env: ["DEV=0"] },
      { env: ["NIC=1"] },
    ]);
  });
});

Deno.test("resolveCdiDevices() refuses unknown and conflicting devices, naming bad files", async () => {
  await withDirs({
    "etc/a.json": spec("v.com/gpu", ["0"]),
    "etc/b.json": spec("v.com/gpu", ["0", "1"]),
    "etc/broken.json": "{",
    "etc/old.json": JSON.stringify({
      cdiVersion: "0.2.0",
      kind: "v.com/old",
      devices: [{ name: "x" }],
    }),
  }, async (root) => {
    const registry = await loadCdiRegistry([join(root, "etc")]);
    assert.deepEqual([...registry.devices.keys()], ["v.com/gpu=1"]);
    assert.deepEqual(registry.errors.map((e) => e.path.split("/").pop()), [
      "broken.json",
      "old.json",
    ]);
    assert.throws(() => resolveCdiDevices(registry, ["v.com/gpu=0"]), {
      name: "FailedPreconditionError",
      message: /defined twice: v.com\/gpu=0 \(in .*a.json and .*b.json\)/,
    });
    assert.throws(
      () => resolveCdiDevices(registry, ["v.com/gpu=1", "v.com/old=x", "v.com/gpu=9"]),
      {
        name: "NotFoundError",
        message:
          /Cannot find CDI devices v.com\/old=x, v.com\/gpu=9 .*old.json: cdiVersion "0.2.0" is not supported/,
      },
    );
  });
});

Deno.test("checkSpec() refuses what the CDI spec does not allow", () => {
  const ok = { cdiVersion: "0.8.0", kind: "v.com/c", devices: [{ name: "d" }] };
  assert.equal(checkSpec("f", ok).kind, "v.com/c");
  const edits = (e: unknown) => ({ ...ok, devices: [{ name: "d", containerEdits: e }] });
  const cases: [unknown, RegExp][] = [
    [[], /an object is expected/],
    [{ ...ok, cdiVersion: "1" }, /not a semantic version/],
    [{ ...ok, cdiVersion: "2.0.0" }, /not supported/],
    [{ ...ok, kind: "vendor" }, /vendor.com\/class/],
    [{ ...ok, devices: [] }, /must list a device/],
    [{ ...ok, devices: [{ name: "d" }, { name: "d" }] }, /defined twice/],
    [{ ...ok, devices: [{ name: "-d" }] }, /must start with/],
    [edits({ env: ["NOEQUALS"] }), /not NAME=value/],
    [edits({ deviceNodes: [{ path: "dev/x" }] }), /absolute path/],
    [edits({ deviceNodes: [{ path: "/dev/x", type: "z" }] }), /not b, c, u or p/],
    [edits({ deviceNodes: [{ path: "/dev/x", permissions: "rx" }] }), /letters of "rwm"/],
    [edits({ deviceNodes: [{ path: "/dev/x", major: -1 }] }), /whole number/],
    [edits({ mounts: [{ hostPath: "/a", containerPath: "b" }] }), /absolute path/],
    [edits({ hooks: [{ hookName: "prestop", path: "/bin/true" }] }), /not one of/],
    [
      edits({ hooks: [{ hookName: "poststart", path: "/bin/true", timeout: 0 }] }),
      /greater than zero/,
    ],
    [edits({ additionalGids: ["10"] }), /whole number/],
    [edits({ intelRdt: { closID: "../x" } }), /not a valid name/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(() => checkSpec("f", raw), { message }, JSON.stringify(raw));
  }
});
