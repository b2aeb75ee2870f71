import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { applyLayer, safeRelative } from "../../../src/image/layer_apply.ts";
import { denoRunner, type Runner, text } from "../../../src/process.ts";
import { buildTar, type LayerEntry } from "../../helpers/images.ts";

/** A runner that records calls; `mknod` makes an empty file instead of a node. */
function fakeRunner(): Runner & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    async run(cmd, args) {
      calls.push([cmd, ...args]);
      // Stand in for the node mknod would make, so later chmod/utime find a file.
      if (cmd === "mknod") await Deno.writeFile(args[2]!, new Uint8Array());
      return { code: 0, stdout: new Uint8Array(), stderr: new Uint8Array() };
    },
  };
}

async function apply(
  entries: LayerEntry[],
  runner = fakeRunner(),
  options: { emptyDir?: boolean; lowerDirs?: string[] } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-layer-unit-" });
  const bytes = await buildTar(entries);
  try {
    const res = await applyLayer(ReadableStream.from([bytes]), dir, {
      runner,
      name: "L",
      chown: false,
      ...options,
    });
    return { dir, res, runner };
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

Deno.test("safeRelative() keeps names inside the layer", () => {
  assert.equal(safeRelative("./a/b/", "L"), "a/b");
  assert.equal(safeRelative("/etc/passwd", "L"), "etc/passwd");
  assert.equal(safeRelative("a/../b", "L"), "b");
  assert.equal(safeRelative("./", "L"), "");
  for (const bad of ["../x", "a/../../x", "..", "a/\0"]) {
    assert.throws(() => safeRelative(bad, "L"), InvalidArgumentError, bad);
  }
});

Deno.test("applyLayer() writes files, dirs, symlinks, hardlinks, modes and mtimes", async () => {
  const mtime = new Date(1_600_000_000_000);
  const { dir, res } = await apply([
    { name: "d/", type: "directory", mode: 0o710, mtime },
    { name: "d/f", content: "hello", mode: 0o640, mtime },
    { name: "d/h", type: "link", linkname: "d/f" },
    { name: "d/s", type: "symlink", linkname: "/etc/shadow" },
    { name: "implicit/parent/file", content: "x" },
    { name: "d/f", content: "replaced", mode: 0o600, mtime },
  ]);
  try {
    assert.equal(await Deno.readTextFile(`${dir}/d/f`), "replaced");
    assert.equal((await Deno.stat(`${dir}/d/f`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${dir}/d`)).mode! & 0o777, 0o710);
    assert.equal((await Deno.stat(`${dir}/d`)).mtime?.getTime(), mtime.getTime());
    assert.equal(await Deno.readTextFile(`${dir}/d/h`), "hello", "the link keeps the first file");
    assert.equal(await Deno.readLink(`${dir}/d/s`), "/etc/shadow");
    assert.equal(await Deno.readTextFile(`${dir}/implicit/parent/file`), "x");
    assert.equal(res.size, "hello".length + 1 + "replaced".length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyLayer() turns whiteouts into mknod and opaque markers into setfattr", async () => {
  const { dir, res, runner } = await apply([
    { name: "a/", type: "directory" },
    { name: "a/.wh.gone", content: "" },
    { name: "a/.wh..wh..opq", content: "" },
    { name: "dev/null", type: "character-device", devmajor: 1, devminor: 3, mode: 0o666 },
    { name: "p", type: "fifo", mode: 0o600 },
  ]);
  try {
    assert.deepEqual(res.whiteouts, ["a/gone"]);
    assert.deepEqual(res.opaques, ["a"]);
    assert.deepEqual(runner.calls, [
      ["mknod", "-m", "0", `${dir}/a/gone`, "c", "0", "0"],
      ["setfattr", "-n", "trusted.overlay.opaque", "-v", "y", `${dir}/a`],
      ["mknod", "-m", "666", `${dir}/dev/null`, "c", "1", "3"],
      ["mknod", "-m", "600", `${dir}/p`, "p"],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyLayer() refuses entries that escape the layer", async () => {
  const outside = await Deno.makeTempDir({ prefix: "ocid-outside-" });
  try {
    const cases: LayerEntry[][] = [
      [{ name: "../evil", content: "x" }],
      [{ name: "s", type: "symlink", linkname: outside }, { name: "s/evil", content: "x" }],
      [{ name: "h", type: "link", linkname: "../../etc/passwd" }],
      [{ name: ".wh..", content: "" }],
    ];
    for (const entries of cases) {
      await assert.rejects(apply(entries), /escapes the layer/, JSON.stringify(entries[0]));
    }
    assert.deepEqual(await Array.fromAsync(Deno.readDir(outside)), []);
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("applyLayer() copies a hardlink target up from a lower layer", async () => {
  const lower = await Deno.makeTempDir({ prefix: "ocid-lower-" });
  const dir = await Deno.makeTempDir({ prefix: "ocid-layer-unit-" });
  try {
    await Deno.mkdir(`${lower}/bin`);
    await Deno.writeTextFile(`${lower}/bin/tool`, "tool");
    const bytes = await buildTar([{ name: "bin/alias", type: "link", linkname: "bin/tool" }]);
    await applyLayer(ReadableStream.from([bytes]), dir, {
      runner: fakeRunner(),
      name: "L",
      chown: false,
      lowerDirs: [lower],
    });
    assert.equal(
      (await Deno.stat(`${dir}/bin/alias`)).ino,
      (await Deno.stat(`${dir}/bin/tool`)).ino,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(lower, { recursive: true });
  }
});

Deno.test("applyLayer() fails on a truncated tar", async () => {
  const bytes = await buildTar([{ name: "f", content: "x".repeat(2000) }]);
  await assert.rejects(
    apply([]).then(async ({ dir }) => {
      try {
        await applyLayer(ReadableStream.from([bytes.slice(0, 1000)]), dir, {
          runner: fakeRunner(),
          name: "L",
          chown: false,
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }),
    InvalidArgumentError,
  );
});

/** cap_net_raw=ep in `security.capability` form (revision 2): bytes below 0x80 only. */
const CAP_NET_RAW = "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00".repeat(12);
const CAP_NET_RAW_HEX = "0x0100000200200000000000000000000000000000";

async function applyBytes(bytes: Uint8Array, runner: Runner, chown = false) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-layer-unit-" });
  try {
    const res = await applyLayer(ReadableStream.from([bytes]), dir, { runner, name: "L", chown });
    return { dir, res };
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

Deno.test("applyLayer() sets SCHILY.xattr records with setfattr after chown, before times", async () => {
  const mtime = new Date(1_600_000_000_000);
  const root = Deno.uid() === 0;
  // What the file looked like when setfattr ran: owner (chown done?) and mtime (times not yet).
  const seen: { uid: number | null; mtime: number | undefined }[] = [];
  const runner = fakeRunner();
  const recording: Runner = {
    async run(cmd, args, options) {
      if (cmd === "setfattr") {
        const info = await Deno.lstat(args.at(-1)!);
        seen.push({ uid: info.uid, mtime: info.mtime?.getTime() });
      }
      return await runner.run(cmd, args, options);
    },
  };
  const bytes = await buildTar([
    { name: "d/", type: "directory", pax: { "SCHILY.xattr.user.dir": "" } },
    {
      name: "d/ping",
      content: "elf",
      mode: 0o755,
      uid: 1234,
      mtime,
      pax: {
        "SCHILY.xattr.user.test": "v",
        "SCHILY.xattr.trusted.overlay.redirect": "/etc",
        "SCHILY.xattr.security.capability": CAP_NET_RAW,
        "SCHILY.xattr.security.selinux": "system_u:object_r:bin_t:s0",
        "SCHILY.xattr.user.overlay.opaque": "y",
      },
    },
    {
      name: "d/s",
      type: "symlink",
      linkname: "ping",
      mtime,
      pax: { "SCHILY.xattr.trusted.t": "l" },
    },
  ]);
  const { dir } = await applyBytes(bytes, recording, root);
  try {
    assert.deepEqual(runner.calls, [
      ["setfattr", "-h", "-n", "user.dir", "-v", "0x", `${dir}/d`],
      ["setfattr", "-h", "-n", "user.test", "-v", "0x76", `${dir}/d/ping`],
      ["setfattr", "-h", "-n", "security.capability", "-v", CAP_NET_RAW_HEX, `${dir}/d/ping`],
      ["setfattr", "-h", "-n", "trusted.t", "-v", "0x6c", `${dir}/d/s`],
    ]);
    for (const s of seen.slice(1)) assert.notEqual(s.mtime, mtime.getTime(), "times come last");
    if (root) assert.deepEqual(seen.slice(1, 3).map((s) => s.uid), [1234, 1234]);
    assert.equal((await Deno.stat(`${dir}/d/ping`)).mtime?.getTime(), mtime.getTime());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyLayer() keeps xattr bytes that are not UTF-8 (tar-stream decodes PAX as UTF-8)", async () => {
  // cap_setuid=ep has 0x80 in its mask. Go's archive/tar writes the raw bytes; tar-stream's pack
  // would write UTF-8, so pack a placeholder of the same length and put the bytes in after.
  const bytes = await buildTar([
    { name: "newuidmap", content: "x", pax: { "SCHILY.xattr.security.capability": CAP_NET_RAW } },
  ]);
  const key = new TextEncoder().encode("SCHILY.xattr.security.capability=");
  const at = bytes.findIndex((_, i) => key.every((b, j) => bytes[i + j] === b)) + key.length;
  bytes.set([0x01, 0, 0, 0x02, 0x80, 0, 0, 0], at);
  const runner = fakeRunner();
  const { dir } = await applyBytes(bytes, runner);
  try {
    assert.deepEqual(runner.calls, [[
      "setfattr",
      "-h",
      "-n",
      "security.capability",
      "-v",
      "0x0100000280000000000000000000000000000000",
      `${dir}/newuidmap`,
    ]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("applyLayer() skips xattrs the filesystem does not support and fails on others", async () => {
  const failing = (stderr: string): Runner => ({
    run: (cmd, args) =>
      cmd === "setfattr"
        ? Promise.resolve({
          code: 1,
          stdout: new Uint8Array(),
          stderr: new TextEncoder().encode(stderr),
        })
        : fakeRunner().run(cmd, args),
  });
  const bytes = await buildTar([
    { name: "f", content: "x", pax: { "SCHILY.xattr.user.a": "1" } },
  ]);
  const { dir } = await applyBytes(bytes, failing(`setfattr: f: Operation not supported\n`));
  await Deno.remove(dir, { recursive: true });
  await assert.rejects(
    applyBytes(bytes, failing(`setfattr: f: Permission denied\n`)),
    (err: Error) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.match(err.message, /"L".*"user\.a".*"f".*Permission denied/);
      return true;
    },
  );
});

Deno.test({
  name: "applyLayer() xattrs read back with getfattr (real setfattr)",
  ignore: Deno.uid() !== 0, // security.* and trusted.* need root
  async fn() {
    const bytes = await buildTar([
      {
        name: "bin/ping",
        content: "elf",
        mode: 0o4755,
        uid: 1234,
        pax: {
          "SCHILY.xattr.security.capability": CAP_NET_RAW,
          "SCHILY.xattr.user.test": "v",
          "SCHILY.xattr.trusted.overlay.opaque": "y",
        },
      },
      { name: "bin/s", type: "symlink", linkname: "ping", pax: { "SCHILY.xattr.trusted.t": "l" } },
    ]);
    const { dir } = await applyBytes(bytes, denoRunner, true);
    try {
      const get = async (path: string) => {
        const out = await denoRunner.run("getfattr", ["-h", "-d", "-m", "-", "-e", "hex", path]);
        return text(out.stdout).split("\n").filter((l) => l.includes("=")).sort();
      };
      assert.deepEqual(await get(`${dir}/bin/ping`), [
        `security.capability=${CAP_NET_RAW_HEX}`,
        "user.test=0x76",
      ]);
      assert.deepEqual(await get(`${dir}/bin/s`), ["trusted.t=0x6c"]);
      const info = await Deno.stat(`${dir}/bin/ping`);
      assert.equal(info.uid, 1234);
      assert.equal(info.mode! & 0o7777, 0o4755, "setuid survives: chmod after chown and xattrs");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Every path under `dir` with its type, mode, size, link count and content or target. */
async function tree(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(rel ? `${dir}/${rel}` : dir)) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    const path = `${dir}/${r}`;
    const st = await Deno.lstat(path);
    const kind = st.isSymlink
      ? `-> ${await Deno.readLink(path)}`
      : st.isDirectory
      ? "dir"
      : `file ${await Deno.readTextFile(path)}`;
    out.push(`${r} ${(st.mode! & 0o7777).toString(8)} nlink=${st.nlink} ${kind}`);
    if (st.isDirectory) out.push(...await tree(dir, r));
  }
  return out.sort();
}

Deno.test("applyLayer() into an empty dir (emptyDir, no lookups of paths it did not make) makes the same tree", async () => {
  const lower = await Deno.makeTempDir({ prefix: "ocid-layer-lower-" });
  await Deno.mkdir(`${lower}/low`);
  await Deno.writeTextFile(`${lower}/low/file`, "from below");
  // Paths made, then replaced by another kind, removed by a whiteout, linked, made again.
  const entries: LayerEntry[] = [
    { name: "a/", type: "directory", mode: 0o755 },
    { name: "a/f", content: "one" },
    { name: "a/f", content: "two", mode: 0o600 },
    { name: "a/h", type: "link", linkname: "a/f" },
    { name: "a/s", type: "symlink", linkname: "f" },
    { name: "a/s", content: "no longer a link" },
    { name: "b/c/d/deep", content: "parents made" },
    { name: "b/c", content: "the dir b/c replaced by a file" },
    { name: "b/c/", type: "directory", mode: 0o700 },
    { name: "b/c/again", content: "made again" },
    { name: "a/.wh.gone", content: "" },
    { name: "a/gone", content: "made after its whiteout" },
    { name: "low/hl", type: "link", linkname: "low/file" },
    { name: "x", type: "symlink", linkname: "/etc" },
    { name: "x", type: "directory", mode: 0o750 },
    { name: "x/in", content: "below a dir that was a symlink" },
  ];
  const made: string[][] = [];
  for (const emptyDir of [false, true]) {
    const { dir } = await apply(entries, fakeRunner(), { emptyDir, lowerDirs: [lower] });
    try {
      made.push(await tree(dir));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  await Deno.remove(lower, { recursive: true });
  assert.deepEqual(made[1], made[0]);
  assert.ok(made[0]!.some((l) => l.startsWith("b/c/again 644")), made[0]!.join("\n"));
  assert.ok(made[0]!.some((l) => l === "a/f 600 nlink=2 file two"), made[0]!.join("\n"));
  assert.ok(made[0]!.some((l) => l.startsWith("low/file ") && l.endsWith("from below")));
});
