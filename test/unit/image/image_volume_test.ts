import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { checkImageSubPath, resolveInRoot } from "../../../src/image/image_volume.ts";

/** A volume root with a small tree and symlinks of every kind. */
async function withTree(fn: (root: string) => Promise<void>): Promise<void> {
  const base = await Deno.makeTempDir({ prefix: "ocid-image-volume-" });
  try {
    const root = `${base}/vol`;
    await Deno.mkdir(`${root}/data/sub`, { recursive: true });
    await Deno.writeTextFile(`${root}/data/sub/f`, "in the image");
    await Deno.writeTextFile(`${root}/file`, "a file");
    await Deno.symlink("/data", `${root}/abs`); // absolute: the image's /data
    await Deno.symlink("data/sub", `${root}/rel`);
    await Deno.symlink("../../../..", `${root}/data/up`); // climbs past the root
    await Deno.symlink("/etc", `${root}/etc`); // the host has /etc, the image has not
    await Deno.symlink("loop2", `${root}/loop1`);
    await Deno.symlink("loop1", `${root}/loop2`);
    await Deno.symlink("missing", `${root}/dangling`);
    // Outside the root, beside it: what a host-side realpath of "../outside" would reach.
    await Deno.mkdir(`${base}/outside`);
    await fn(root);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
}

Deno.test("resolveInRoot: plain paths, '' and '.' are the root or below it", async () => {
  await withTree(async (root) => {
    assert.equal(await resolveInRoot(root, ""), root);
    assert.equal(await resolveInRoot(root, "."), root);
    assert.equal(await resolveInRoot(root, "data/sub"), `${root}/data/sub`);
    assert.equal(await resolveInRoot(root, "data//./sub/"), `${root}/data/sub`);
    assert.equal(await resolveInRoot(root, "data/sub/f"), `${root}/data/sub/f`);
  });
});

Deno.test("resolveInRoot: symlinks resolve inside the root, absolute ones from the root", async () => {
  await withTree(async (root) => {
    assert.equal(await resolveInRoot(root, "abs"), `${root}/data`);
    assert.equal(await resolveInRoot(root, "abs/sub/f"), `${root}/data/sub/f`);
    assert.equal(await resolveInRoot(root, "rel"), `${root}/data/sub`);
  });
});

Deno.test("resolveInRoot: a symlink that climbs or names a host path stays in the root", async () => {
  await withTree(async (root) => {
    // "../../../.." from data/ stops at the root: data/up is the root itself.
    assert.equal(await resolveInRoot(root, "data/up"), root);
    assert.equal(await resolveInRoot(root, "data/up/file"), `${root}/file`);
    // The host's /etc exists, the image's does not: not found, never the host's.
    await assert.rejects(resolveInRoot(root, "etc"), InvalidArgumentError);
    await assert.rejects(resolveInRoot(root, "etc/passwd"), InvalidArgumentError);
  });
});

Deno.test("resolveInRoot: missing paths, files with more after them and loops are refused", async () => {
  await withTree(async (root) => {
    await assert.rejects(resolveInRoot(root, "nope"), {
      name: "InvalidArgumentError",
      message: /Cannot find "nope" in the image: "nope" does not exist/,
    });
    await assert.rejects(resolveInRoot(root, "file/x"), /"file" is not a directory/);
    await assert.rejects(resolveInRoot(root, "dangling"), /"missing" does not exist/);
    await assert.rejects(resolveInRoot(root, "loop1"), /too many symlinks/);
  });
});

Deno.test("checkImageSubPath: relative paths pass, absolute, '..' and NUL are refused", () => {
  for (const ok of ["", "a", "a/b", "./a", "a/./b/"]) checkImageSubPath(ok, "f");
  for (const bad of ["/a", "..", "a/../b", "a/..", "a\0b"]) {
    assert.throws(() => checkImageSubPath(bad, "mounts[0].image_sub_path"), {
      name: "InvalidArgumentError",
      message: /mounts\[0\]\.image_sub_path/,
    });
  }
});
