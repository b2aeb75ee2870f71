import assert from "node:assert/strict";
import { LineSplitter, parseCriLogLine } from "../../../src/stream/attach.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("parseCriLogLine() reads stream, partial flag and text", () => {
  const full = parseCriLogLine(
    enc.encode("2026-11-27T02:18:01.043591690+00:00 stdout F hello world"),
  )!;
  assert.equal(full.stream, "stdout");
  assert.equal(full.full, true);
  assert.equal(dec.decode(full.text), "hello world");
  const partial = parseCriLogLine(enc.encode("2026-11-27T02:18:01Z stderr P abc"))!;
  assert.equal(partial.stream, "stderr");
  assert.equal(partial.full, false);
  const empty = parseCriLogLine(enc.encode("2026-11-27T02:18:01Z stdout F"))!;
  assert.equal(empty.text.length, 0);
  assert.equal(parseCriLogLine(enc.encode("garbage")), undefined);
  assert.equal(parseCriLogLine(enc.encode("t other F x")), undefined);
});

Deno.test("LineSplitter keeps an unfinished line for the next chunk", () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(enc.encode("a\nb")).map((l) => dec.decode(l)), ["a"]);
  assert.deepEqual(s.push(enc.encode("c\n\nd")).map((l) => dec.decode(l)), ["bc", ""]);
});
