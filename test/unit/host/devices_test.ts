import assert from "node:assert/strict";
import { join } from "node:path";
import { decodeRdev, listHostDevices } from "../../../src/host/devices.ts";

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
