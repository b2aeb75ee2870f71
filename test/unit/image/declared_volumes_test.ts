import assert from "node:assert/strict";
import { join } from "node:path";
import { FailedPreconditionError } from "../../../src/errors.ts";
import { exists } from "../../../src/exists.ts";
import { declaredVolumes, makeVolumeDir } from "../../../src/image/declared_volumes.ts";

Deno.test("declaredVolumes(): absolute paths the request does not mount, cleaned and sorted", () => {
  assert.deepEqual(declaredVolumes({}, []), []);
  assert.deepEqual(declaredVolumes({ Volumes: null }, []), []);
  assert.deepEqual(
    declaredVolumes(
      { Volumes: { "/var/lib/db/": {}, "relative": {}, "/": {}, "/cache": {}, "/a/../srv": {} } },
      [{ container_path: "/cache/" }],
    ),
    ["/srv", "/var/lib/db"],
  );
});

Deno.test("makeVolumeDir() makes what is missing inside the rootfs; a symlink cannot lead out", async () => {
  const base = await Deno.makeTempDir({ prefix: "ocid-volumes-" });
  try {
    const rootfs = join(base, "rootfs");
    const outside = join(base, "outside");
    await Deno.mkdir(join(rootfs, "var"), { recursive: true });
    await Deno.mkdir(outside);
    await Deno.symlink(outside, join(rootfs, "var", "abs")); // absolute: the rootfs's own
    await Deno.symlink("../../../../outside", join(rootfs, "var", "up"));
    await Deno.writeTextFile(join(rootfs, "var", "file"), "x");
    const owner = { uid: 4321, gid: 8765 };
    await makeVolumeDir(rootfs, "/var/abs/data", owner);
    await makeVolumeDir(rootfs, "/var/up/more", owner);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(outside)), [], "nothing made outside");
    for (const made of [join(rootfs, base, "outside", "data"), join(rootfs, "outside", "more")]) {
      const st = await Deno.stat(made);
      assert.ok(st.isDirectory, made);
      assert.deepEqual([st.uid, st.gid], [4321, 8765]);
    }
    assert.equal((await Deno.stat(join(rootfs, "var"))).uid, Deno.uid(), "what was there stays");
    await makeVolumeDir(rootfs, "/var", owner); // there already: nothing to do
    await assert.rejects(makeVolumeDir(rootfs, "/var/file", owner), FailedPreconditionError);
    await assert.rejects(makeVolumeDir(rootfs, "/var/file/sub", owner), /not a directory/);
    assert.equal(await exists(join(rootfs, "var", "file", "sub")), false);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
