/**
 * How applyLayer() treats a tar that stops before its end blocks: accepted where Go's
 * archive/tar accepts it (at an entry boundary, inside the padding after complete data),
 * refused with the entry's name where the input cuts a header or a file's data short.
 */
import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { applyLayer } from "../../../src/image/layer_apply.ts";
import type { Runner } from "../../../src/process.ts";
import { buildTar } from "../../helpers/images.ts";

const noRunner: Runner = {
  run(cmd) {
    throw new Error(`unexpected ${cmd}`);
  },
};

/** Splits bytes into chunks of `size` (the tar parser must not depend on chunking). */
function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i += size) chunks.push(bytes.slice(i, i + size));
  return ReadableStream.from(chunks);
}

async function applyBytes(bytes: Uint8Array, chunk = 64 * 1024) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-tar-end-" });
  try {
    await applyLayer(chunked(bytes, chunk), dir, { runner: noRunner, name: "L", chown: false });
    return {
      a: await Deno.readTextFile(`${dir}/a`),
      b: await Deno.readTextFile(`${dir}/dir/b`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const A = "hello\n";
const B = "b".repeat(700);
// Layout: a's header @0, a's data @512 (1 block), dir/'s header @1024, b's header @1536,
// b's data @2048..2748 (padded to 3072), then two end blocks.
const B_DATA = 2048;
const full = await buildTar([
  { name: "a", content: A },
  { name: "dir/", type: "directory" },
  { name: "dir/b", content: B },
]);

Deno.test("applyLayer() reads a complete tar", async () => {
  assert.equal(full.byteLength, 3072 + 1024);
  assert.deepEqual(await applyBytes(full), { a: A, b: B });
});

Deno.test("applyLayer() accepts a tar that ends right after the last file's data (umoci insert)", async () => {
  const unpadded = full.slice(0, B_DATA + B.length);
  assert.deepEqual(await applyBytes(unpadded), { a: A, b: B });
  assert.deepEqual(await applyBytes(unpadded, 1), { a: A, b: B }, "one byte at a time");
  assert.deepEqual(await applyBytes(unpadded, 700), { a: A, b: B });
});

Deno.test("applyLayer() accepts a tar that ends inside the padding or the end blocks", async () => {
  for (const end of [B_DATA + B.length + 1, 3071, 3072, 3072 + 100, 3072 + 512, 3072 + 700]) {
    assert.deepEqual(await applyBytes(full.slice(0, end)), { a: A, b: B }, `cut at ${end}`);
  }
});

Deno.test("applyLayer() refuses a tar cut inside a file's data and names the file", async () => {
  for (const end of [B_DATA + 1, B_DATA + 300, B_DATA + B.length - 1]) {
    await assert.rejects(
      applyBytes(full.slice(0, end)),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, String(err));
        assert.match(err.message, /cut short inside the data of "dir\/b"/);
        assert.match(err.message, new RegExp(`${end - B_DATA} of 700 bytes`));
        return true;
      },
      `cut at ${end}`,
    );
  }
});

Deno.test("applyLayer() refuses a tar cut inside a header", async () => {
  for (const end of [1536 + 1, 1536 + 200, 1536 + 300, 1536 + 511]) {
    await assert.rejects(applyBytes(full.slice(0, end)), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError, String(err));
      // Either the cut header no longer parses (named by the entry before it), or its missing
      // bytes were zeros anyway and the entry itself is named.
      assert.match(
        err.message,
        /after (the entry )?"dir\/"|inside the header of "dir\/b"/,
        `cut at ${end}: ${err.message}`,
      );
      return true;
    });
  }
});

Deno.test("applyLayer() refuses a tar cut inside a PAX long-name record", async () => {
  const long = `${"d".repeat(120)}/${"f".repeat(120)}`;
  const bytes = await buildTar([{ name: "a", content: A }, { name: long, content: "x" }]);
  // a: header + 1 block; then the PAX header @1024 and its record @1536 (about 260 bytes).
  await assert.rejects(applyBytes(bytes.slice(0, 1536 + 100)), (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    assert.match(err.message, /cut short inside a header after "a"/);
    return true;
  });
  const dir = await Deno.makeTempDir({ prefix: "ocid-tar-end-" });
  try {
    const unpadded = bytes.slice(0, bytes.byteLength - 1024 - 511);
    await applyLayer(ReadableStream.from([unpadded]), dir, {
      runner: noRunner,
      name: "L",
      chown: false,
    });
    assert.equal(await Deno.readTextFile(`${dir}/${long}`), "x");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
