import assert from "node:assert/strict";
import { join } from "node:path";
import { DatagramReceiver, sendDatagram, sockaddrUn } from "../../../src/sys/unix_datagram.ts";

Deno.test("sockaddrUn() encodes a path with its NUL and an abstract name without one", () => {
  const path = sockaddrUn("/run/x");
  assert.equal(path.length, 2 + 6 + 1);
  assert.deepEqual([...path.subarray(0, 2)], [1, 0]);
  assert.equal(new TextDecoder().decode(path.subarray(2, 8)), "/run/x");
  assert.equal(path[8], 0);
  const abstract = sockaddrUn("@ocid/x");
  assert.equal(abstract.length, 2 + 1 + 6);
  assert.equal(abstract[2], 0);
  assert.equal(new TextDecoder().decode(abstract.subarray(3)), "ocid/x");
  assert.throws(() => sockaddrUn(""), /Invalid unix socket address/);
  assert.throws(() => sockaddrUn(`/${"x".repeat(107)}`), /too long/);
});

Deno.test("sendDatagram() reaches a bound path and an abstract name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-dgram-" });
  const receivers = [
    DatagramReceiver.bind(join(dir, "notify")),
    DatagramReceiver.bind(`@ocid-test-${Deno.pid}-${Date.now()}`),
  ];
  try {
    for (const receiver of receivers) {
      const next = receiver.receive();
      sendDatagram(receiver.address, "READY=1\nSTATUS=hello");
      sendDatagram(receiver.address, new TextEncoder().encode("WATCHDOG=1"));
      assert.equal(new TextDecoder().decode((await next)!), "READY=1\nSTATUS=hello");
      assert.equal(new TextDecoder().decode((await receiver.receive())!), "WATCHDOG=1");
    }
    assert.throws(
      () => sendDatagram(join(dir, "nobody"), "READY=1"),
      /Cannot send to ".*nobody": .*\(errno 2\)/,
    );
  } finally {
    for (const receiver of receivers) await receiver.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DatagramReceiver.receive() returns null once closed", async () => {
  const receiver = DatagramReceiver.bind(`@ocid-test-close-${Deno.pid}-${Date.now()}`);
  const pending = receiver.receive();
  await receiver.close();
  assert.equal(await pending, null);
});
