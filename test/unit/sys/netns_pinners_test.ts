import assert from "node:assert/strict";
import { chooseNetnsKind } from "../../../src/sys/default_netns_pinner.ts";
import { ExecNetnsPinner } from "../../../src/sys/exec_netns_pinner.ts";
import { NetnsPinError } from "../../../src/sys/netns_pinner.ts";
import { FakeRunner, result } from "../network/fake_runner.ts";

Deno.test("chooseNetnsKind() defaults to exec and takes libc only when OCID_NETNS asks", () => {
  assert.equal(chooseNetnsKind({ os: "linux", setting: undefined, ffi: true }), "exec");
  assert.equal(chooseNetnsKind({ os: "linux", setting: "", ffi: true }), "exec");
  assert.equal(chooseNetnsKind({ os: "linux", setting: "libc", ffi: true }), "libc");
  assert.equal(chooseNetnsKind({ os: "linux", setting: "exec", ffi: true }), "exec");
  assert.equal(chooseNetnsKind({ os: "linux", setting: undefined, ffi: false }), "exec");
  assert.equal(chooseNetnsKind({ os: "darwin", setting: undefined, ffi: true }), "exec");
});

Deno.test("chooseNetnsKind() refuses a bad OCID_NETNS and libc without FFI", () => {
  assert.throws(
    () => chooseNetnsKind({ os: "linux", setting: "fork", ffi: true }),
    /Invalid OCID_NETNS "fork": use "exec" or "libc"/,
  );
  assert.throws(
    () => chooseNetnsKind({ os: "linux", setting: "libc", ffi: false }),
    /OCID_NETNS is "libc" but .*--allow-ffi or set OCID_NETNS=exec/,
  );
});

Deno.test("ExecNetnsPinner.pin() runs unshare --net=<file> true", async () => {
  const runner = new FakeRunner(() => result(0));
  await new ExecNetnsPinner(runner, { unshare: "/usr/bin/unshare" }).pin("/n/a");
  assert.deepEqual(runner.calls.map((c) => [c.cmd, ...c.args]), [
    ["/usr/bin/unshare", "--net=/n/a", "true"],
  ]);
});

Deno.test("ExecNetnsPinner.pin() reports the failed run", async () => {
  const runner = new FakeRunner(() => result(1, "", "unshare: mount failed: Permission denied"));
  const e = await new ExecNetnsPinner(runner).pin("/n/a").catch((e) => e);
  assert.ok(e instanceof NetnsPinError);
  assert.equal(e.step, "exec");
  assert.match(
    e.message,
    /"\/n\/a" \(unshare program\): .*unshare --net=\/n\/a true failed with 1/,
  );
});
