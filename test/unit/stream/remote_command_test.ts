import assert from "node:assert/strict";
import { ResizeDecoder, statusBytes, statusObject } from "../../../src/stream/remote_command.ts";
import {
  clientProtocols,
  negotiate,
  REMOTE_COMMAND_PROTOCOLS,
  remoteCommandVersion,
} from "../../../src/stream/handshake.ts";

Deno.test("statusObject() reports a nonzero exit as client-go's v4 decoder expects", () => {
  assert.deepEqual(statusObject({ kind: "exit", code: 3, cmd: ["sh", "-c", "exit 3"] }), {
    metadata: {},
    status: "Failure",
    message:
      "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3",
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: "3" }] },
  });
  assert.deepEqual(statusObject({ kind: "success" }), { metadata: {}, status: "Success" });
  assert.equal(statusObject({ kind: "error", message: "boom" }).message, "boom");
});

Deno.test("statusBytes() writes JSON for v4 and plain text (nothing on success) before", () => {
  assert.equal(statusBytes({ kind: "success" }, 4), '{"metadata":{},"status":"Success"}');
  assert.equal(statusBytes({ kind: "success" }, 3), undefined);
  assert.equal(statusBytes({ kind: "error", message: "no tty" }, 2), "no tty");
  assert.match(statusBytes({ kind: "exit", code: 1, cmd: ["false"] }, 3)!, /exit code 1$/);
});

Deno.test("ResizeDecoder splits a stream of JSON sizes across chunks", () => {
  const d = new ResizeDecoder();
  const enc = new TextEncoder();
  assert.deepEqual(d.push(enc.encode('{"Width":80,"Hei')), []);
  assert.deepEqual(d.push(enc.encode('ght":24}\n{"Width":100,"Height":50}{"Width":"x"}')), [
    { width: 80, height: 24 },
    { width: 100, height: 50 },
  ]);
  assert.deepEqual(d.push(enc.encode('{"Width":1e9,"Height":1}')), [{ width: 0xffff, height: 1 }]);
});

Deno.test("negotiate() picks the newest common remotecommand protocol", () => {
  const offered = clientProtocols(["v2.channel.k8s.io, v4.channel.k8s.io", "channel.k8s.io"]);
  assert.deepEqual(offered, ["v2.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]);
  assert.equal(negotiate(offered, REMOTE_COMMAND_PROTOCOLS), "v4.channel.k8s.io");
  assert.equal(negotiate(["channel.k8s.io"], REMOTE_COMMAND_PROTOCOLS), undefined);
  assert.equal(negotiate(clientProtocols(undefined), REMOTE_COMMAND_PROTOCOLS), undefined);
  assert.equal(remoteCommandVersion("v3.channel.k8s.io"), 3);
});
