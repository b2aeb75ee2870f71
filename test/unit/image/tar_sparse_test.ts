/**
 * GNU sparse files written by GNU tar itself (`--sparse`): the PAX forms unpack to the same
 * bytes as the original, the forms ocid cannot read are refused with the file's name instead
 * of being written wrong.
 */
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { applyLayer } from "../../../src/image/layer_apply.ts";
import type { Runner } from "../../../src/process.ts";

const noRunner: Runner = {
  run(cmd) {
    throw new Error(`unexpected ${cmd}`);
  },
};

const MIB = 1 << 20;
const PIECES: [number, string][] = [[0, "begin"], [3 * MIB + 5, "middle"], [8 * MIB - 3, "end"]];

/** A directory with `sparse/file`: 8 MiB, three short runs of data, holes between. */
async function sparseTree(): Promise<{ dir: string; content: Uint8Array }> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-sparse-src-" });
  await Deno.mkdir(`${dir}/sparse`);
  const file = await Deno.open(`${dir}/sparse/file`, { write: true, create: true });
  const content = new Uint8Array(8 * MIB);
  for (const [off, text] of PIECES) {
    const bytes = new TextEncoder().encode(text);
    content.set(bytes, off);
    await file.seek(off, Deno.SeekMode.Start);
    await file.write(bytes);
  }
  file.close();
  await Deno.writeTextFile(`${dir}/sparse/after`, "after\n");
  return { dir, content };
}

async function gnuTar(dir: string, args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("tar", {
    args: ["-C", dir, ...args, "-cf", "-", "sparse/file", "sparse/after"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return out.stdout;
}

async function apply(bytes: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-sparse-" });
  try {
    await applyLayer(ReadableStream.from([bytes]), dir, {
      runner: noRunner,
      name: "L",
      chown: false,
    });
    return dir;
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

const src = await sparseTree();
const tars: Record<string, Uint8Array> = {};
try {
  for (const v of ["1.0", "0.1", "0.0"]) {
    tars[v] = await gnuTar(src.dir, ["--format=pax", "--sparse", `--sparse-version=${v}`]);
  }
  tars["gnu"] = await gnuTar(src.dir, ["--format=gnu", "--sparse"]);
} finally {
  await Deno.remove(src.dir, { recursive: true });
}
const latin1 = (b: Uint8Array) => new TextDecoder("latin1").decode(b);

for (const version of ["1.0", "0.1"]) {
  Deno.test(`applyLayer() unpacks a GNU sparse file in PAX form ${version}`, async () => {
    const bytes = tars[version]!;
    assert.match(latin1(bytes), /GNU\.sparse\./, "GNU tar wrote the file sparse");
    assert.ok(bytes.byteLength < 1 * MIB, "the tar holds only the data, not the holes");
    const dir = await apply(bytes);
    try {
      const got = await Deno.readFile(`${dir}/sparse/file`);
      assert.equal(got.byteLength, src.content.byteLength);
      assert.ok(got.every((b, i) => b === src.content[i]), "same bytes as the original");
      assert.equal(await Deno.readTextFile(`${dir}/sparse/after`), "after\n");
      const names = [...Deno.readDirSync(dir)].map((e) => e.name);
      assert.deepEqual(names, ["sparse"], "no GNUSparseFile.* placeholder directory");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("applyLayer() refuses an old GNU sparse entry (type S) and names it", async () => {
  const bytes = tars["gnu"]!;
  assert.equal(String.fromCharCode(bytes[156]!), "S", "GNU tar wrote type S");
  await assert.rejects(apply(bytes), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.match(err.message, /"sparse\/file" of a tar type ocid cannot unpack/);
    return true;
  });
});

Deno.test("applyLayer() refuses the GNU sparse PAX form 0.0 and names the file", async () => {
  const bytes = tars["0.0"]!;
  await assert.rejects(apply(bytes), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.match(err.message, /sparse file ".*file".*0\.0/);
    return true;
  });
});
