import assert from "node:assert/strict";
import {
  encodeFrame,
  FLAG_FIN,
  type Frame,
  FrameReader,
  SpdyProtocolError,
} from "../../../src/stream/spdy_frame.ts";

const FRAMES: Exclude<Frame, { type: "unknown" }>[] = [
  { type: "data", streamId: 5, flags: FLAG_FIN, data: new Uint8Array([1, 2, 3]) },
  { type: "data", streamId: 0x7fffffff, flags: 0, data: new Uint8Array(0) },
  {
    type: "synStream",
    streamId: 1,
    associatedId: 0,
    priority: 7,
    flags: 0,
    headerBlock: new Uint8Array([9, 8, 7]),
  },
  { type: "synReply", streamId: 3, flags: FLAG_FIN, headerBlock: new Uint8Array([1]) },
  { type: "headers", streamId: 3, flags: 0, headerBlock: new Uint8Array([2, 2]) },
  { type: "rstStream", streamId: 9, status: 5 },
  {
    type: "settings",
    flags: 1,
    entries: [{ id: 7, flags: 0, value: 65536 }, { id: 4, flags: 1, value: 100 }],
  },
  { type: "ping", id: 0xfffffffe },
  { type: "goAway", lastGoodStreamId: 11, status: 0 },
  { type: "windowUpdate", streamId: 1, delta: 1 << 20 },
];

Deno.test("encodeFrame() and FrameReader round-trip every frame type", () => {
  for (const frame of FRAMES) {
    const frames = new FrameReader().push(encodeFrame(frame));
    assert.deepEqual(frames, [frame], frame.type);
  }
});

Deno.test("encodeFrame() writes SPDY/3 control headers and data headers", () => {
  const ping = encodeFrame({ type: "ping", id: 1 });
  assert.deepEqual([...ping], [0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]);
  const data = encodeFrame({
    type: "data",
    streamId: 3,
    flags: FLAG_FIN,
    data: new Uint8Array([0x41]),
  });
  assert.deepEqual([...data], [0, 0, 0, 3, 0x01, 0, 0, 1, 0x41]);
});

Deno.test("FrameReader reassembles frames fed one byte at a time", () => {
  const bytes = new Uint8Array(FRAMES.flatMap((f) => [...encodeFrame(f)]));
  const reader = new FrameReader();
  const out: Frame[] = [];
  for (const b of bytes) out.push(...reader.push(new Uint8Array([b])));
  assert.deepEqual(out, FRAMES);
  assert.equal(reader.pending, 0);
});

Deno.test("FrameReader refuses a frame over its limit", () => {
  const reader = new FrameReader({ maxPayload: 4 });
  const frame = encodeFrame({ type: "data", streamId: 1, flags: 0, data: new Uint8Array(5) });
  assert.throws(() => reader.push(frame), SpdyProtocolError);
});

Deno.test("FrameReader refuses a truncated control payload", () => {
  // RST_STREAM with a 4-byte payload (needs 8).
  const bad = new Uint8Array([0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4, 0, 0, 0, 1]);
  assert.throws(() => new FrameReader().push(bad), /RST_STREAM frame of 4 bytes is too short/);
});

Deno.test("FrameReader passes frames of another version through as unknown", () => {
  const v2 = new Uint8Array([0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4, 0, 0, 0, 1]);
  const [frame] = new FrameReader().push(v2);
  assert.equal(frame?.type, "unknown");
});
