import assert from "node:assert/strict";
import type { Runner } from "../../../src/process.ts";
import { RootfsManager } from "../../../src/image/rootfs.ts";
import type { LayerRecord } from "../../../src/image/layer_store.ts";
import { MS_RDONLY } from "../../../src/sys/mounter.ts";
import { FakeMounter } from "../sys/_fake_mounter.ts";

const noRunner: Runner = {
  run: () => Promise.reject(new Error("no program may run")),
};

function layer(diffDir: string) {
  return { diffDir, record: { opaques: [], whiteouts: [] } as unknown as LayerRecord };
}

Deno.test("RootfsManager.mount() mounts an overlay of the layers, top layer first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-rootfs-unit-" });
  try {
    const mounter = new FakeMounter();
    const mgr = new RootfsManager({ dir, driver: "overlay", runner: noRunner, mounter });
    const merged = await mgr.mount("c1", [layer("/l/1"), layer("/l/2")]);
    await mgr.mount("c2", [layer("/l/1")], { readonly: true });
    assert.equal(merged, `${dir}/c1/merged`);
    const c = `${dir}/c1`;
    assert.deepEqual(mounter.calls, [{
      op: "mount",
      source: "overlay",
      target: merged,
      fstype: "overlay",
      flags: 0,
      data: `lowerdir=/l/2:/l/1,upperdir=${c}/upper,workdir=${c}/work`,
    }, {
      op: "mount",
      source: "overlay",
      target: `${dir}/c2/merged`,
      fstype: "overlay",
      flags: MS_RDONLY,
      data: `lowerdir=/l/1,upperdir=${dir}/c2/upper,workdir=${dir}/c2/work`,
    }]);
    // Unmounted twice: the second umount2 gets EINVAL (not a mount point), which is no error.
    await mgr.unmount("c1");
    await mgr.remove("c1");
    assert.deepEqual(mounter.calls.slice(2), [
      { op: "unmount", target: merged, detach: false },
      { op: "unmount", target: merged, detach: false },
    ]);
    assert.deepEqual(mounter.mounts, [`${dir}/c2/merged`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RootfsManager.remove() deletes the writable layer and the dir, unmounted or not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-rootfs-unit-" });
  try {
    const mounter = new FakeMounter();
    const mgr = new RootfsManager({ dir, driver: "overlay", runner: noRunner, mounter });
    for (const [id, options] of [["c1", {}], ["c2", { unmounted: true }]] as const) {
      await mgr.mount(id, [layer("/l/1")]);
      await Deno.writeTextFile(`${dir}/${id}/upper/file`, "data");
      await Deno.mkdir(`${dir}/${id}/work/work`);
      await mgr.remove(id, options);
      const left = await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
      assert.ok(!left.includes(id), `${id}: nothing is left`);
    }
    // c1 is unmounted by remove(); c2's caller said it had unmounted it: no call for it.
    assert.deepEqual(mounter.calls.map((c) => [c.op, c.target]), [
      ["mount", `${dir}/c1/merged`],
      ["unmount", `${dir}/c1/merged`],
      ["mount", `${dir}/c2/merged`],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
