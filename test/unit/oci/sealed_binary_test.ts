import assert from "node:assert/strict";
import { join } from "node:path";
import { createSealedBinary, RUNC_MEMFD_SEALS } from "../../../src/oci/sealed_binary.ts";
import type { Logger } from "../../../src/log.ts";

const SCRIPT_V1 = "#!/bin/sh\necho one\n";
const SCRIPT_V2 = "#!/bin/sh\necho two $(cat /proc/$$/comm)\n";

function recordingLogger(): Logger & { infos: string[] } {
  const infos: string[] = [];
  const nop = () => {};
  return { infos, debug: nop, warn: nop, error: nop, info: (m) => infos.push(m) };
}

async function run(path: string): Promise<string> {
  const out = await new Deno.Command(path, { stdout: "piped", stderr: "piped" }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

/** The memfd behind a link to `/proc/<pid>/fd/<n>`, and its seals as `/proc` shows them. */
async function memfdOf(link: string): Promise<{ target: string; fdLink: string }> {
  const target = await Deno.readLink(link);
  assert.match(target, new RegExp(`^/proc/${Deno.pid}/fd/\\d+$`));
  return { target, fdLink: await Deno.readLink(target) };
}

Deno.test("SealedBinary runs the runtime from a sealed memfd copy, made again when the file changes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-sealed-" });
  try {
    const file = join(dir, "runc");
    await Deno.writeTextFile(file, SCRIPT_V1, { mode: 0o755 });
    const link = join(dir, "run", "runtimes.d", "runc", "runc");
    const log = recordingLogger();
    const sealed = createSealedBinary({ file, link, logger: log });
    const [a, b] = await Promise.all([sealed.path(), sealed.path()]);
    assert.equal(a, link);
    assert.equal(b, link);
    const first = await memfdOf(link);
    assert.match(first.fdLink, /^\/memfd:runc/);
    assert.equal(await run(link), "one");
    // Sealed: it cannot be written, shrunk or grown.
    await assert.rejects(Deno.writeTextFile(first.target, "x"), Deno.errors.PermissionDenied);
    const fd = Number(first.target.split("/").at(-1));
    const seals = Deno.dlopen("libc.so.6", {
      fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
    });
    try {
      assert.equal(seals.symbols.fcntl(fd, 1034, 0), RUNC_MEMFD_SEALS);
    } finally {
      seals.close();
    }
    // The same file: the same copy.
    assert.equal(await sealed.path(), link);
    assert.equal((await memfdOf(link)).target, first.target);

    // An upgrade (a new file renamed into place): a new copy, the old fd closed.
    const next = join(dir, "runc.new");
    await Deno.writeTextFile(next, SCRIPT_V2, { mode: 0o755 });
    await Deno.rename(next, file);
    assert.equal(await sealed.path(), link);
    assert.equal(await run(link), "two runc", "runs the new copy under the runtime's name");
    await assert.rejects(Deno.readLink(first.target), Deno.errors.NotFound);
    assert.deepEqual(log.infos, [
      "Runtime runs from a sealed copy",
      "Runtime runs from a sealed copy",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SealedBinary gives the file when not enabled, and turns itself off when it cannot copy", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-sealed-" });
  try {
    const file = join(dir, "crun");
    await Deno.writeTextFile(file, SCRIPT_V1, { mode: 0o755 });
    const link = join(dir, "link", "crun");
    const notRunc = createSealedBinary({ file, link, enabled: Promise.resolve(false) });
    assert.equal(await notRunc.path(), file);
    await assert.rejects(Deno.lstat(link), Deno.errors.NotFound);

    const log = recordingLogger();
    const missing = createSealedBinary({ file: join(dir, "gone"), link, logger: log });
    assert.equal(await missing.path(), join(dir, "gone"));
    assert.equal(await missing.path(), join(dir, "gone"));
    assert.deepEqual(log.infos, ["Running the runtime from its file, not from a sealed copy"]);
    await assert.rejects(Deno.lstat(link), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SealedBinary runs the first copy once before using it, and gives the file when the copy will not run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-sealed-" });
  try {
    const file = join(dir, "runc");
    // Stands for a node that refuses to run a memfd: the copy fails its `--version`.
    await Deno.writeTextFile(file, '#!/bin/sh\n[ "$1" = --version ] && exit 3\necho ran\n', {
      mode: 0o755,
    });
    const link = join(dir, "link", "runc");
    const log = recordingLogger();
    const sealed = createSealedBinary({ file, link, logger: log });
    assert.equal(await sealed.path(), file);
    assert.equal(await sealed.path(), file);
    assert.deepEqual(log.infos, ["Running the runtime from its file, not from a sealed copy"]);
    await assert.rejects(Deno.lstat(link), Deno.errors.NotFound, "no link left behind");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
