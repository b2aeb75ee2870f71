/**
 * systemd's notification protocol against the real daemon: the test plays systemd with its own
 * unix datagram socket, passed as `NOTIFY_SOCKET` with `WATCHDOG_USEC`, and checks the messages:
 * STATUS= lines while starting, READY=1 only once the CRI socket answers, WATCHDOG=1 at half
 * the interval, STOPPING=1 on SIGTERM. Root only. No pod network (bridge "ocidt41" is only
 * named, never created).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call, criClients } from "../../src/cri/proto.ts";
import { DatagramReceiver } from "../../src/sys/unix_datagram.ts";
import { makeTestDirs, startDaemon } from "../helpers/daemon.ts";

interface Message {
  text: string;
  at: number;
  /** For READY=1: whether a fresh client's Version call answered right after. */
  answered?: boolean;
}

Deno.test({
  name: "the daemon tells systemd: STATUS while starting, READY, WATCHDOG, STOPPING",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ocid-it41-notify-" });
  const address = join(dir, "notify");
  const receiver = DatagramReceiver.bind(address);
  const messages: Message[] = [];
  const options = { bridge: "ocidt41", subnet: "10.234.41.0/24", noNetwork: true };
  const dirs = await makeTestDirs(options);
  const received = (async () => {
    for (;;) {
      const bytes = await receiver.receive();
      if (bytes === null) return;
      const m: Message = { text: new TextDecoder().decode(bytes), at: performance.now() };
      messages.push(m);
      if (m.text.startsWith("READY=1")) {
        // Its own subchannel: the helper's client, polling since before the socket existed,
        // may be backing off on the shared one.
        const clients = criClients(dirs.socket, {
          channelOptions: { "grpc.use_local_subchannel_pool": 1 },
        });
        m.answered = await call(clients.runtime, "Version", { version: "v1" }, {
          deadlineMs: 2000,
        }).then(() => true, () => false);
        clients.close();
      }
    }
  })();
  const daemon = await startDaemon({
    ...options,
    dirs,
    env: { NOTIFY_SOCKET: address, WATCHDOG_USEC: "200000" },
  });
  try {
    // The helper returned once Version answered; READY=1 follows that promptly.
    const deadline = Date.now() + 10_000;
    while (!messages.some((m) => m.answered !== undefined) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 450));
    const status = await daemon.stop();
    assert.equal(status.code, 0, daemon.output());
    await new Promise((r) => setTimeout(r, 100));
    const texts = messages.map((m) => m.text);
    const ready = texts.findIndex((t) => t.startsWith("READY=1"));
    assert.ok(ready > 0, `no READY=1 after STATUS lines: ${JSON.stringify(texts)}`);
    assert.match(texts[0]!, /^STATUS=Recovering 0 pods and 0 containers from /);
    assert.ok(texts.slice(0, ready).includes("STATUS=Sweeping what no record owns"));
    assert.match(texts[ready]!, /^READY=1\nSTATUS=Serving on .*ocid\.sock: 0 pods, 0 containers$/);
    assert.equal(messages[ready]!.answered, true, "the CRI socket answered when READY=1 came");
    const stopping = texts.indexOf("STOPPING=1");
    assert.ok(stopping > ready, JSON.stringify(texts));
    assert.equal(stopping, texts.length - 1, "nothing after STOPPING=1");
    // WATCHDOG_USEC 200 ms: a ping every 100 ms, about 5 during the 450 ms wait.
    const pings = messages.filter((m) => m.text === "WATCHDOG=1");
    assert.ok(pings.length >= 3, `${pings.length} watchdog pings`);
    for (let i = 1; i < pings.length; i++) {
      const gap = pings[i]!.at - pings[i - 1]!.at;
      // 100 ms apart; wide bounds for a loaded machine.
      assert.ok(gap > 30 && gap < 400, `watchdog gap ${gap.toFixed(0)} ms`);
    }
  } finally {
    await daemon.cleanup();
    await receiver.close();
    await received;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "without NOTIFY_SOCKET the daemon starts as before",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const daemon = await startDaemon({
    bridge: "ocidt41",
    subnet: "10.234.41.0/24",
    noNetwork: true,
  });
  try {
    const status = await daemon.stop();
    assert.equal(status.code, 0, daemon.output());
    assert.doesNotMatch(daemon.output(), /notify systemd/i);
  } finally {
    await daemon.cleanup();
  }
});
