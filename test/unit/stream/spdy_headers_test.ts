import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { SPDY3_DICTIONARY } from "../../../src/stream/spdy_dictionary.ts";
import {
  HeaderCodec,
  headerValue,
  parseHeaderBlock,
  serializeHeaderBlock,
} from "../../../src/stream/spdy_headers.ts";
import { SpdyProtocolError } from "../../../src/stream/spdy_frame.ts";

Deno.test("SPDY3_DICTIONARY is the 1423 bytes of the SPDY/3 draft", () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  // Checked against docker/spdystream's spdy/dictionary.go.
  assert.equal(
    createHash("sha256").update(SPDY3_DICTIONARY).digest("hex"),
    "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02",
  );
});

Deno.test("serializeHeaderBlock() and parseHeaderBlock() round-trip, names lower-cased", () => {
  const block = serializeHeaderBlock({ StreamType: ["stdin"], port: ["80"], multi: ["a", "b"] });
  assert.deepEqual(parseHeaderBlock(block), {
    streamtype: ["stdin"],
    port: ["80"],
    multi: ["a", "b"],
  });
});

Deno.test("serializeHeaderBlock() writes 32-bit lengths", () => {
  const block = serializeHeaderBlock({ a: ["bc"] });
  assert.deepEqual([...block], [0, 0, 0, 1, 0, 0, 0, 1, 0x61, 0, 0, 0, 2, 0x62, 0x63]);
});

Deno.test("parseHeaderBlock() refuses a truncated block", () => {
  assert.throws(
    () => parseHeaderBlock(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 9, 0x61])),
    SpdyProtocolError,
  );
});

Deno.test("headerValue() is case-insensitive and takes the first value", () => {
  assert.equal(headerValue({ requestid: ["1", "2"] }, "requestID"), "1");
  assert.equal(headerValue({}, "port"), undefined);
});

Deno.test("HeaderCodec shares one zlib context per direction across blocks", async () => {
  const sender = new HeaderCodec();
  const receiver = new HeaderCodec();
  try {
    const blocks = [
      { streamtype: ["error"] },
      { streamtype: ["stdout"] },
      { streamtype: ["stdout"] },
      { streamtype: ["data"], port: ["8080"], requestid: ["0"] },
    ];
    const sizes: number[] = [];
    for (const headers of blocks) {
      const compressed = await sender.compress(headers);
      sizes.push(compressed.length);
      // A sync flush ends every block: 00 00 ff ff.
      assert.deepEqual([...compressed.subarray(-4)], [0, 0, 0xff, 0xff]);
      assert.deepEqual(await receiver.decompress(compressed), headers);
    }
    // The repeated block compresses to less thanks to the shared window.
    assert.ok(sizes[2]! < sizes[1]!, `sizes ${sizes}`);
  } finally {
    sender.close();
    receiver.close();
  }
});

Deno.test("HeaderCodec rejects a block that is not zlib", async () => {
  const codec = new HeaderCodec();
  try {
    await assert.rejects(codec.decompress(new Uint8Array([1, 2, 3, 4, 5])), SpdyProtocolError);
  } finally {
    codec.close();
  }
});
