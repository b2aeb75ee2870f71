/**
 * Layer decompression by the blob's first bytes, zstd through the `zstd` program
 * (scripts/setup.sh installs it), and the stream filter's clean-up.
 */
import assert from "node:assert/strict";
import { CommandError } from "../../../src/errors.ts";
import { decompressLayer, sniffCompression } from "../../../src/image/decompress.ts";
import { filterThrough } from "../../../src/process_filter.ts";
import { buildTar, gzip } from "../../helpers/images.ts";

async function zstd(bytes: Uint8Array, args: string[] = []): Promise<Uint8Array> {
  const child = new Deno.Command("zstd", {
    args: ["-q", "-c", ...args],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(bytes);
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, "zstd compresses");
  return out.stdout;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Pids of this process's children running `name`. */
async function childrenNamed(name: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${e.name}/stat`).catch(() => "");
    const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
    if (m && m[1] === name && Number(m[2]) === Deno.pid) out.push(Number(e.name));
  }
  return out;
}

const tarBytes = await buildTar([{ name: "f", content: "x".repeat(100_000) }]);

Deno.test("sniffCompression() tells gzip, zstd and plain tar apart", async () => {
  assert.equal(sniffCompression(await gzip(tarBytes)), "gzip");
  assert.equal(sniffCompression(await zstd(tarBytes)), "zstd");
  assert.equal(sniffCompression(tarBytes), "none");
  assert.equal(sniffCompression(new Uint8Array([0x28, 0xb5])), "none");
});

Deno.test("decompressLayer() decodes each kind, whatever the chunking", async () => {
  const cases = {
    gzip: await gzip(tarBytes),
    zstd: await zstd(tarBytes),
    // A frame that asks for a 128 MiB window, as `zstd --long` writes on a stream.
    "zstd --long": await zstd(tarBytes, ["--long=27", "-19"]),
    none: tarBytes,
  };
  for (const [kind, bytes] of Object.entries(cases)) {
    for (const size of [1, 3, 4096, bytes.byteLength]) {
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < bytes.byteLength; i += size) chunks.push(bytes.slice(i, i + size));
      if (size === 1 && bytes.byteLength > 20_000) continue;
      const got = await decompressLayer(ReadableStream.from(chunks), "L");
      assert.equal(got.compression, kind.split(" ")[0]);
      assert.deepEqual(await collect(got.stream), tarBytes, `${kind} in chunks of ${size}`);
    }
  }
  assert.deepEqual(await childrenNamed("zstd"), [], "every zstd was reaped");
});

Deno.test("decompressLayer() fails a corrupt zstd layer with zstd's message", async () => {
  const bytes = await zstd(tarBytes);
  const corrupt = bytes.slice(0, bytes.byteLength - 40);
  const got = await decompressLayer(ReadableStream.from([corrupt]), "L");
  await assert.rejects(collect(got.stream), (err: unknown) => {
    assert.ok(err instanceof CommandError, String(err));
    assert.match(err.message, /zstd -d -c -q/);
    return true;
  });
  assert.deepEqual(await childrenNamed("zstd"), []);
});

Deno.test("filterThrough() kills and reaps the program when the reader cancels", async () => {
  let cancelled = false;
  let sent = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      sent++;
      controller.enqueue(new Uint8Array(64 * 1024).fill(7));
    },
    cancel() {
      cancelled = true;
    },
  });
  const out = filterThrough("cat", [], endless);
  const reader = out.getReader();
  const first = await reader.read();
  assert.equal(first.value?.[0], 7);
  assert.deepEqual((await childrenNamed("cat")).length, 1);
  await reader.cancel();
  assert.deepEqual(await childrenNamed("cat"), [], "cat was killed and reaped");
  assert.ok(cancelled, "the input was cancelled");
  assert.ok(sent < 1000, "the input was not read to no end");
});

Deno.test("filterThrough() passes the input's error on and reaps the program", async () => {
  const failing = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array([1, 2, 3]));
      controller.error(new Error("disk gone"));
    },
  });
  await assert.rejects(collect(filterThrough("cat", [], failing)), /disk gone/);
  assert.deepEqual(await childrenNamed("cat"), []);
});

Deno.test("filterThrough() throws NotFound for a missing program", () => {
  assert.throws(
    () => filterThrough("ocid-no-such-program", [], ReadableStream.from([])),
    Deno.errors.NotFound,
  );
});
