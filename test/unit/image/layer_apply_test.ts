import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { applyLayer, safeRelative } from "../../../src/image/layer_apply.ts";
import type { Runner } from "../../../src/process.ts";
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

async function apply(entries: LayerEntry[], runner = fakeRunner()) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-layer-unit-" });
  const bytes = await buildTar(entries);
  try {
    const res = await applyLayer(ReadableStream.from([bytes]), dir, {
      runner,
      name: "L",
      chown: false,
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
