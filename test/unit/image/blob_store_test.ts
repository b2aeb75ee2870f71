import assert from "node:assert/strict";
import { BlobStore, DigestMismatchError } from "../../../src/image/blob_store.ts";
import { sha256Digest } from "../../../src/image/digest.ts";

async function withStore(fn: (store: BlobStore, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ocid-blobs-" });
  try {
    const store = new BlobStore(`${dir}/blobs`, `${dir}/tmp`);
    await store.init();
    await fn(store, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("BlobStore.put() stores a verified blob under its digest", async () => {
  await withStore(async (store) => {
    const bytes = new TextEncoder().encode("content");
    const digest = sha256Digest(bytes);
    await store.put(digest, ReadableStream.from([bytes.slice(0, 3), bytes.slice(3)]), {
      what: "Blob",
    });
    assert.ok(await store.has(digest));
    assert.deepEqual(await store.read(digest), bytes);
    assert.deepEqual(await store.list(), [digest]);
  });
});

Deno.test("BlobStore.put() rejects wrong content and leaves no file", async () => {
  await withStore(async (store, dir) => {
    const digest = sha256Digest("expected");
    await assert.rejects(
      store.put(digest, ReadableStream.from([new TextEncoder().encode("other")]), { what: "Blob" }),
      DigestMismatchError,
    );
    await assert.rejects(
      store.put(digest, ReadableStream.from([new TextEncoder().encode("expected!")]), {
        what: "Blob",
        size: 8,
      }),
      /larger than its declared 8 bytes/,
    );
    assert.equal(await store.has(digest), false);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(`${dir}/tmp`)), []);
  });
});
