/**
 * The two mounters against the real kernel, as root: tmpfs with flags, a private bind mount,
 * a read-only overlay, lazy unmounts and the errors, for the libc mounter (FFI) and the
 * `mount`/`umount` fallback alike. Everything lives in a temp dir and is unmounted after.
 *
 * @module
 */
import assert from "node:assert/strict";
import { denoRunner } from "../../src/process.ts";
import { ExecMounter } from "../../src/sys/exec_mounter.ts";
import { openLibc } from "../../src/sys/libc.ts";
import { LibcMounter } from "../../src/sys/libc_mounter.ts";
import { MountError } from "../../src/sys/mount_error.ts";
import {
  type Mounter,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
} from "../../src/sys/mounter.ts";

/** mountinfo lines whose mount point is `path`, newest last. */
async function mountLines(path: string): Promise<string[][]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  return info.split("\n").map((l) => l.split(" ")).filter((f) => f[4] === path);
}

/** Unmounts everything at or below `base` (deepest first), then deletes it. */
async function cleanUp(base: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const info = await Deno.readTextFile("/proc/self/mountinfo");
    const points = info.split("\n").map((l) => l.split(" ")[4] ?? "")
      .filter((p) => p === base || p.startsWith(base + "/"))
      .sort((a, b) => b.length - a.length);
    if (points.length === 0) break;
    for (const p of points) await denoRunner.run("umount", ["-l", p], { check: false });
  }
  await Deno.remove(base, { recursive: true });
}

const mounters: [string, () => Mounter][] = [
  ["LibcMounter", () => new LibcMounter(openLibc())],
  ["ExecMounter", () => new ExecMounter(denoRunner)],
];

for (const [name, make] of mounters) {
  Deno.test(`${name} mounts and unmounts tmpfs, bind, private and overlay`, async (t) => {
    if (Deno.uid() !== 0) throw new Error("mount integration tests need root");
    const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocid-mounter-" }));
    const m = make();
    try {
      await t.step("tmpfs with nosuid,nodev,noexec and size", async () => {
        const shm = `${base}/shm`;
        await Deno.mkdir(shm);
        await m.mount(
          "shm",
          shm,
          "tmpfs",
          MS_NOSUID | MS_NODEV | MS_NOEXEC,
          "mode=1777,size=65536",
        );
        const [line] = await mountLines(shm);
        assert.ok(line, "shm is a mount point");
        const opts = line[5]!.split(",");
        for (const o of ["nosuid", "nodev", "noexec"]) assert.ok(opts.includes(o), o);
        const sep = line.indexOf("-");
        assert.equal(line[sep + 1], "tmpfs");
        assert.match(line[sep + 3]!, /size=64k/);
        assert.equal(((await Deno.stat(shm)).mode ?? 0) & 0o7777, 0o1777);
        await m.unmount(shm, { detach: true });
        assert.deepEqual(await mountLines(shm), []);
      });

      await t.step("a bind mount of a dir on itself, made private", async () => {
        // A shared parent, so that the bind mount starts shared and the change can be seen.
        const parent = `${base}/shared`;
        const dir = `${parent}/netns`;
        await Deno.mkdir(dir, { recursive: true });
        await denoRunner.run("mount", ["--bind", parent, parent]);
        await denoRunner.run("mount", ["--make-shared", parent]);
        const shared = async () => {
          const lines = await mountLines(dir);
          assert.equal(lines.length, 1);
          return lines[0]!.slice(6, lines[0]!.indexOf("-")).some((f) => f.startsWith("shared:"));
        };
        await m.mount(dir, dir, "", MS_BIND);
        assert.ok(await shared(), "a bind mount under a shared parent starts shared");
        await m.mount("", dir, "", MS_PRIVATE);
        assert.ok(!(await shared()), "private after MS_PRIVATE");
        await m.unmount(dir);
        assert.deepEqual(await mountLines(dir), []);
      });

      await t.step("a read-only overlay", async () => {
        for (const d of ["lower", "upper", "work", "merged"]) await Deno.mkdir(`${base}/${d}`);
        await Deno.writeTextFile(`${base}/lower/hello`, "hi");
        const merged = `${base}/merged`;
        const data = `lowerdir=${base}/lower,upperdir=${base}/upper,workdir=${base}/work`;
        await m.mount("overlay", merged, "overlay", MS_RDONLY, data);
        assert.equal(await Deno.readTextFile(`${merged}/hello`), "hi");
        await assert.rejects(Deno.writeTextFile(`${merged}/new`, "x"), /Read-only file system/);
        await m.unmount(merged);
        assert.deepEqual(await mountLines(merged), []);
      });

      await t.step("errors name the path", async () => {
        const plain = `${base}/plain`;
        await Deno.mkdir(plain);
        const err = await m.unmount(plain).then(() => assert.fail("must fail"), (e) => e);
        assert.ok(err instanceof MountError);
        assert.match(err.message, new RegExp(`Cannot unmount "${plain}"`));
        if (m.kind === "libc") assert.equal(err.errno, "EINVAL");
        await assert.rejects(
          m.mount("shm", `${base}/missing`, "tmpfs", 0, ""),
          (e) => e instanceof MountError && e.message.includes(`"${base}/missing"`),
        );
      });
    } finally {
      await cleanUp(base);
    }
  });
}

Deno.test("LibcMounter: overlay options of 4095 bytes mount, longer ones are refused", async () => {
  if (Deno.uid() !== 0) throw new Error("mount integration tests need root");
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocid-mounter-" }));
  const m = new LibcMounter(openLibc());
  try {
    for (const d of ["upper", "work", "merged"]) await Deno.mkdir(`${base}/${d}`);
    const tail = `,upperdir=${base}/upper,workdir=${base}/work`;
    // One lower dir whose name pads the options to exactly `size` bytes.
    const options = async (size: number) => {
      const fixed = `lowerdir=${base}/`.length + tail.length;
      const lower = `${base}/${"l".repeat(Math.min(255, size - fixed))}`;
      const lowers = [lower];
      let data = `lowerdir=${lowers.join(":")}${tail}`;
      await Deno.mkdir(lower).catch(() => {});
      let i = 0;
      while (data.length < size) {
        const room = size - data.length - 1 - base.length - 1;
        const next = `${base}/${String(i++).padEnd(Math.min(255, room), "x")}`;
        await Deno.mkdir(next).catch(() => {});
        lowers.push(next);
        data = `lowerdir=${lowers.join(":")}${tail}`;
      }
      assert.equal(data.length, size);
      return data;
    };
    await m.mount("overlay", `${base}/merged`, "overlay", MS_RDONLY, await options(4095));
    await m.unmount(`${base}/merged`);
    await assert.rejects(
      m.mount("overlay", `${base}/merged`, "overlay", MS_RDONLY, await options(4096)),
      /Cannot mount overlay on ".*\/merged": the options are 4096 bytes; the kernel takes at most 4095/,
    );
  } finally {
    await cleanUp(base);
  }
});
