import assert from "node:assert/strict";
import { nullLogger } from "../../../src/log.ts";
import {
  type AttachSocket,
  LineSplitter,
  parseCriLogLine,
  runAttach,
} from "../../../src/stream/attach.ts";
import type { SpdyStream } from "../../../src/stream/spdy_connection.ts";

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

Deno.test("runAttach() sends stdin to conmon's attach socket and half-closes it at the end", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-attach-test-" });
  try {
    const logPath = `${dir}/0.log`;
    await Deno.writeTextFile(logPath, "");
    const sent: string[] = [];
    let halfClosed = false;
    let closed = false;
    let connectedTo = "";
    const socket: AttachSocket = {
      read: () => Promise.resolve(null),
      write: (b) => {
        sent.push(dec.decode(b));
        return Promise.resolve();
      },
      closeWrite: () => {
        halfClosed = true;
        // As conmon with stdin_once: the container sees EOF, answers and exits.
        Deno.writeTextFileSync(logPath, "2026-11-27T02:18:01Z stdout F bye\n", { append: true });
      },
      close: () => {
        closed = true;
        return Promise.resolve();
      },
    };
    const stdin = (async function* () {
      yield enc.encode("abc");
    })();
    const out: string[] = [];
    const stdout = { write: (b: Uint8Array) => void out.push(dec.decode(b)) };
    const outcome = await runAttach(
      {
        log: nullLogger,
        isRunning: () => !halfClosed,
        pollMs: 5,
        connectAttach: (path) => {
          connectedTo = path;
          return socket;
        },
      },
      { id: "c1", logPath, bundle: dir },
      {
        request: {
          kind: "attach",
          containerId: "c1",
          tty: false,
          stdin: true,
          stdout: true,
          stderr: false,
        },
        streams: {
          error: {} as SpdyStream,
          stdin: stdin as unknown as SpdyStream,
          stdout: stdout as unknown as SpdyStream,
        },
        gone: new Promise(() => {}),
      },
    );
    assert.deepEqual(outcome, { kind: "success" });
    assert.equal(connectedTo, `${dir}/attach`);
    assert.deepEqual(sent, ["abc"]);
    assert.equal(halfClosed, true);
    assert.equal(closed, true);
    assert.deepEqual(out, ["bye\n"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
