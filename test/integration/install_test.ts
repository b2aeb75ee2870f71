/**
 * scripts/install.sh into a temporary prefix: the files it writes (and no others), the unit that
 * `systemd-analyze verify` accepts, the installed `ocid version` and `ocid config`, the installed
 * launcher serving the CRI as one Deno process (no wrapper), a kept ocid.conf on reinstall, and
 * a failed compile that installs nothing. Root only; the daemon it starts has no pod network and
 * runs no pod.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call, criClients } from "../../src/cri/proto.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const INSTALL = join(ROOT, "scripts/install.sh");

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  const envWithoutDenort = { ...Deno.env.toObject(), ...env };
  if (!("DENORT_BIN" in env)) delete envWithoutDenort.DENORT_BIN;
  const res = await new Deno.Command(cmd, {
    args,
    env: envWithoutDenort,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: res.code, out: d.decode(res.stdout), err: d.decode(res.stderr) };
}

async function filesUnder(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    const rel = path.slice(base.length + 1);
    if (rel === "usr/local/lib/ocid") {
      out.push(`${rel}/`); // the installed source and Deno: checked below
      continue;
    }
    if (e.isDirectory) out.push(...await filesUnder(path, base));
    else out.push(rel);
  }
  return out.sort();
}

Deno.test({
  name: "install.sh installs a launcher, the unit and the configuration into a prefix",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  const prefix = await Deno.makeTempDir({ prefix: "ocid-install-" });
  const bin = join(prefix, "usr/local/bin/ocid");
  const unit = join(prefix, "etc/systemd/system/ocid.service");
  const conf = join(prefix, "etc/ocid/ocid.conf");
  try {
    await t.step("it writes the binary, the unit and the configuration, nothing else", async () => {
      const res = await run(INSTALL, ["--prefix", prefix]);
      assert.equal(res.code, 0, res.err);
      assert.deepEqual(await filesUnder(prefix), [
        "etc/ocid/ocid.conf",
        "etc/systemd/system/ocid.service",
        "usr/local/bin/ocid",
        "usr/local/lib/ocid/",
      ]);
      assert.equal((await Deno.stat(bin)).mode! & 0o777, 0o755);
      assert.equal((await Deno.stat(conf)).mode! & 0o777, 0o644);
      assert.equal(
        await Deno.readTextFile(conf),
        await Deno.readTextFile(join(ROOT, "scripts/ocid.conf.example")),
      );
      const launcher = await Deno.readTextFile(bin);
      assert.match(launcher, new RegExp(`exec "${prefix}/usr/local/lib/ocid/deno" run`));
      assert.doesNotMatch(launcher, /node_modules|npm/);
    });

    await t.step("systemd-analyze verify accepts the unit", async () => {
      const text = await Deno.readTextFile(unit);
      assert.match(text, /^Type=notify$/m);
      assert.match(text, /^NotifyAccess=main$/m);
      assert.match(text, new RegExp(`^ExecStart=${bin} serve$`, "m"));
      const res = await run("systemd-analyze", ["verify", unit]);
      assert.equal(res.code, 0, res.out + res.err);
      assert.equal(res.err.trim(), "");
    });

    await t.step("the installed ocid runs version and config", async () => {
      const version = await run(bin, ["version"]);
      assert.equal(version.code, 0, version.err);
      assert.match(version.out, /^ocid \d+\.\d+\.\d+ \(CRI v1, Deno 2\.9\.6\)$/m);
      const config = await run(bin, ["config", "--config", conf]);
      assert.equal(config.code, 0, config.err);
      assert.match(config.out, /^metrics_port = 0$/m);
      assert.match(config.out, /^\[runtime\]$/m);
    });

    await t.step("the installed launcher serves as one Deno process", async () => {
      const dir = await Deno.makeTempDir({ prefix: "ocid-install-run-" });
      const socket = join(dir, "run/ocid.sock");
      await Deno.mkdir(join(dir, "cni"));
      const daemon = new Deno.Command(bin, {
        args: [
          "--root",
          join(dir, "root"),
          "--runroot",
          join(dir, "run"),
          "--listen",
          socket,
          "--cni-config-dir",
          join(dir, "cni"),
          "--config",
          conf,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(daemon.stderr).text();
      const clients = criClients(socket);
      try {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const ok = await call(clients.runtime, "Version", { version: "v1" }, { deadlineMs: 500 })
            .then(() => true, () => false);
          if (ok) break;
          assert.ok(Date.now() < deadline, "the installed daemon did not answer in 30 s");
          await new Promise((r) => setTimeout(r, 100));
        }
        const exe = await Deno.readLink(`/proc/${daemon.pid}/exe`);
        assert.equal(exe, join(prefix, "usr/local/lib/ocid/deno"));
      } finally {
        clients.close();
        daemon.kill("SIGTERM");
        const status = await daemon.status;
        const text = await stderr;
        await Deno.remove(dir, { recursive: true });
        assert.equal(status.code, 0, text);
      }
    });

    await t.step("a second install keeps an edited ocid.conf", async () => {
      await Deno.writeTextFile(conf, 'log_level = "debug"\n');
      const res = await run(INSTALL, [`--prefix=${prefix}`]);
      assert.equal(res.code, 0, res.err);
      assert.match(res.err, /kept the existing/);
      assert.equal(await Deno.readTextFile(conf), 'log_level = "debug"\n');
    });
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});

Deno.test("install.sh installs nothing when the compile fails or an argument is wrong", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "ocid-install-bad-" });
  try {
    const res = await run(INSTALL, ["--prefix", prefix], { DENORT_BIN: "/nonexistent/denort" });
    assert.notEqual(res.code, 0);
    assert.match(res.err, /DENORT_BIN is "\/nonexistent\/denort", which is not a file/);
    const bad = await run(INSTALL, ["--prefx", prefix]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown argument "--prefx"/);
    assert.deepEqual(await filesUnder(prefix), []);
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});
