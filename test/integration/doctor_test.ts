/**
 * `ocid doctor` on this machine: with a working configuration it passes (warning about what
 * this machine lacks), with broken ones it fails naming each problem and its fix; a running
 * ocid on the socket is reported. Root only. The daemon started has no pod network (bridge
 * "ocidt41" is only named). Leaves nothing behind (its overlay probe is removed).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDaemon } from "../helpers/daemon.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function doctor(args: string[]): Promise<{ code: number; out: string }> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(ROOT, "src/main.ts"), "doctor", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: res.code, out: d.decode(res.stdout) + d.decode(res.stderr) };
}

/** A base dir with a CNI dir holding `conflist`, a registries.conf, and an ocid.conf. */
async function setUp(options: { conflist: unknown; registries: string; extra?: string }) {
  const base = await Deno.makeTempDir({ prefix: "ocid-doctor-" });
  await Deno.mkdir(join(base, "cni"));
  await Deno.writeTextFile(join(base, "cni/10-net.conflist"), JSON.stringify(options.conflist));
  await Deno.writeTextFile(join(base, "registries.conf"), options.registries);
  await Deno.writeTextFile(
    join(base, "ocid.conf"),
    [
      `root = "${base}/root"`,
      `runroot = "${base}/run"`,
      options.extra ?? "",
      "[cni]",
      `config_dir = "${base}/cni"`,
      `plugin_dirs = ["/usr/lib/cni"]`,
      "[image]",
      `registries_conf = "${base}/registries.conf"`,
      "",
    ].join("\n"),
  );
  return base;
}

const GOOD_CONFLIST = {
  cniVersion: "1.0.0",
  name: "doctor-net",
  plugins: [
    { type: "bridge", bridge: "ocidt41", ipam: { type: "host-local", subnet: "10.234.41.0/24" } },
    { type: "portmap", capabilities: { portMappings: true } },
  ],
};

Deno.test("ocid doctor passes on this machine with a working configuration", async () => {
  const base = await setUp({ conflist: GOOD_CONFLIST, registries: "" });
  try {
    const { code, out } = await doctor(["--config", join(base, "ocid.conf")]);
    assert.equal(code, 0, out);
    assert.match(out, /^ok {4}runtime {5}runc version \S+ \(\/usr\/sbin\/runc\)$/m);
    assert.match(out, /^ok {4}conmon {6}conmon version \S+ \(\/usr\/bin\/conmon\)$/m);
    assert.match(out, /^ok {4}cni {9}Network "doctor-net" .*: bridge, portmap$/m);
    assert.match(out, /^ok {4}storage .*An overlay mount works under /m);
    assert.match(out, /^ok {4}cgroups {5}Controllers: cpu \(v\d\), memory \(v\d\), pids \(v\d\)$/m);
    // This machine: v1 hierarchies plus cgroup2 (hybrid), no CAP_SYS_RESOURCE.
    assert.match(out, /^warn {2}cgroups {5}Hybrid layout/m);
    assert.match(out, /^warn {2}privileges {2}CAP_SYS_RESOURCE is missing/m);
    assert.match(out, /\n\d+ ok, \d+ warn, 0 fail\n$/);
    // Nothing left: not the root dir, not the overlay probe.
    assert.deepEqual(
      [...Deno.readDirSync(base)].map((e) => e.name).sort(),
      ["cni", "ocid.conf", "registries.conf"],
    );
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("ocid doctor fails on broken configurations, naming each problem and its fix", async () => {
  const base = await setUp({
    conflist: { cniVersion: "1.0.0", name: "broken", plugins: [{ type: "nosuchplugin" }] },
    registries: "[[registry]\nprefix = ",
    extra: '[conmon]\npath = "/nonexistent/conmon"',
  });
  try {
    await Deno.writeTextFile(join(base, "cni/05-bad.conf"), "{ not json");
    await Deno.mkdir(join(base, "run"));
    await Deno.writeTextFile(join(base, "run/ocid.sock"), "not a socket");
    const { code, out } = await doctor([
      "--config",
      join(base, "ocid.conf"),
      "--runtime",
      "/nonexistent/runc",
    ]);
    assert.equal(code, 1, out);
    const expected = [
      /^fail {2}runtime {5}\/nonexistent\/runc is missing or not executable\n {18}fix: apt-get install runc/m,
      /^fail {2}conmon {6}\/nonexistent\/conmon is missing or not executable/m,
      /^warn {2}cni {9}Invalid network config skipped: .*05-bad\.conf: Invalid JSON/m,
      /^fail {2}cni {9}Network "broken" .*plugin "nosuchplugin" is in none of \/usr\/lib\/cni/m,
      /^fail {2}registries {2}.*registries\.conf/m,
      /^fail {2}socket .*ocid\.sock exists and is not a socket\n {18}fix: remove /m,
      /\n\d+ ok, \d+ warn, 5 fail\n$/,
    ];
    for (const pattern of expected) assert.match(out, pattern);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("ocid doctor refuses a configuration file that does not parse", async () => {
  const base = await Deno.makeTempDir({ prefix: "ocid-doctor-" });
  try {
    await Deno.writeTextFile(join(base, "ocid.conf"), "runtime = [");
    const { code, out } = await doctor(["--config", join(base, "ocid.conf")]);
    assert.equal(code, 2);
    assert.match(out, /Cannot parse .*ocid\.conf/);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test({
  name: "ocid doctor reports an ocid already serving on the socket",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const daemon = await startDaemon({
    bridge: "ocidt41",
    subnet: "10.234.41.0/24",
    noNetwork: true,
  });
  try {
    const { out } = await doctor([
      "--config",
      join(daemon.dirs.base, "ocid.conf"),
      "--root",
      daemon.dirs.root,
      "--runroot",
      daemon.dirs.runroot,
      "--listen",
      daemon.dirs.socket,
    ]);
    assert.match(out, /^warn {2}socket {6}ocid \S+ already serves on .*ocid\.sock$/m);
  } finally {
    await daemon.cleanup();
  }
});
