import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeRdev, devicesAt, listHostDevices } from "../../../src/host/devices.ts";

Deno.test("decodeRdev() splits device numbers as glibc does", () => {
  assert.deepEqual(decodeRdev(0x0103), { major: 1, minor: 3 }); // /dev/null
  assert.deepEqual(decodeRdev(0x0801), { major: 8, minor: 1 }); // sda1
  assert.deepEqual(decodeRdev(0x8800), { major: 136, minor: 0 }); // pts/0
  // makedev(259, 0x12345): minor bits 8..19 sit at 20..31
  assert.deepEqual(decodeRdev(0x12310345), { major: 259, minor: 0x12345 });
  // makedev(0x1000, 0x100000): the high word carries the rest
  const high = 0x1000 * 2 ** 32;
  assert.deepEqual(decodeRdev(high + 1), { major: 0x1000, minor: 0x1 });
  assert.deepEqual(decodeRdev(0x1 * 2 ** 32), { major: 0, minor: 0x100000 });
});

Deno.test("listHostDevices() leaves out files, symlinks and skipped dirs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-dev-" });
  try {
    await Deno.writeTextFile(join(dir, "file"), "x");
    await Deno.symlink("/dev/null", join(dir, "link"));
    await Deno.mkdir(join(dir, "pts"));
    await Deno.mkdir(join(dir, "sub"));
    await Deno.writeTextFile(join(dir, "sub", "also-a-file"), "x");
    assert.deepEqual(listHostDevices(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listHostDevices() of /dev has null, no console, nothing under pts", () => {
  const devices = listHostDevices();
  const byPath = new Map(devices.map((d) => [d.path, d]));
  const nul = byPath.get("/dev/null");
  assert.ok(nul, "has /dev/null");
  assert.equal(nul.type, "c");
  assert.deepEqual([nul.major, nul.minor], [1, 3]);
  assert.equal(nul.fileMode, 0o666);
  assert.ok(!byPath.has("/dev/console"));
  for (const d of devices) {
    assert.ok(!d.path.startsWith("/dev/pts/"), d.path);
    assert.ok(!d.path.startsWith("/dev/shm/"), d.path);
    assert.ok(d.major > 0, d.path);
    assert.ok(!Deno.lstatSync(d.path).isSymlink, d.path);
  }
});

Deno.test("devicesAt() gives a node at the container path, or every node under a directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-dev-" });
  try {
    await Deno.mkdir(join(dir, "snd"));
    await Deno.mkdir(join(dir, "snd", "by-path"));
    const mknod = async (path: string, minor: number) => {
      const out = await new Deno.Command("mknod", {
        args: ["-m", "0660", path, "c", "1", `${minor}`],
      })
        .output();
      assert.ok(out.success, `mknod (root only): ${new TextDecoder().decode(out.stderr)}`);
    };
    await mknod(join(dir, "snd", "controlC0"), 3);
    await mknod(join(dir, "snd", "by-path", "pcm"), 5);
    await Deno.symlink("../controlC0", join(dir, "snd", "by-path", "link"));
    await Deno.writeTextFile(join(dir, "snd", "readme"), "x");
    const node = { type: "c", major: 1, fileMode: 0o660, uid: 0, gid: 0 };
    assert.deepEqual(
      devicesAt(join(dir, "snd"), "/dev/snd").sort((a, b) => a.path.localeCompare(b.path)),
      [
        { ...node, path: "/dev/snd/by-path/pcm", minor: 5 },
        { ...node, path: "/dev/snd/controlC0", minor: 3 },
      ],
    );
    // A symlink given by name is followed, as containerd and CRI-O do.
    assert.deepEqual(devicesAt(join(dir, "snd", "by-path", "link"), "/dev/c"), [
      { ...node, path: "/dev/c", minor: 3 },
    ]);
    assert.throws(() => devicesAt(join(dir, "snd", "readme"), "/dev/r"), /not a device node/);
    assert.throws(() => devicesAt(join(dir, "none"), "/dev/n"), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
