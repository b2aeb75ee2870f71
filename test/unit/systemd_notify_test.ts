import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { createSystemdNotifier, watchdogIntervalMs } from "../../src/systemd_notify.ts";

const log = createLogger("error");

function fakeEnv(vars: Record<string, string>) {
  const map = new Map(Object.entries(vars));
  return {
    map,
    get: (k: string) => map.get(k),
    delete: (k: string) => void map.delete(k),
  };
}

Deno.test("without NOTIFY_SOCKET nothing is sent", () => {
  const sent: string[] = [];
  const env = fakeEnv({ WATCHDOG_USEC: "1000", PATH: "/bin" });
  const n = createSystemdNotifier({ env, log, send: (_a, m) => sent.push(m) });
  assert.equal(n.enabled, false);
  n.status("x");
  n.ready("y");
  n.stopping();
  n.close();
  assert.deepEqual(sent, []);
  assert.deepEqual([...env.map.keys()], ["PATH"]);
});

Deno.test("READY, STATUS and STOPPING go to NOTIFY_SOCKET; the variables are cleared", () => {
  const sent: Array<[string, string]> = [];
  const env = fakeEnv({ NOTIFY_SOCKET: "@/org/systemd/notify", PATH: "/bin" });
  const n = createSystemdNotifier({ env, log, send: (a, m) => sent.push([a, m]) });
  assert.equal(n.enabled, true);
  assert.deepEqual([...env.map.keys()], ["PATH"]);
  n.status("Recovering 2 pods\nand more");
  n.ready("Serving");
  n.stopping();
  assert.deepEqual(sent, [
    ["@/org/systemd/notify", "STATUS=Recovering 2 pods and more"],
    ["@/org/systemd/notify", "READY=1\nSTATUS=Serving"],
    ["@/org/systemd/notify", "STOPPING=1"],
  ]);
});

Deno.test("a failing send is logged, never thrown", () => {
  const n = createSystemdNotifier({
    env: fakeEnv({ NOTIFY_SOCKET: "/nonexistent" }),
    log,
    send: () => {
      throw new Error("ECONNREFUSED");
    },
  });
  n.ready("x");
  n.stopping();
});

Deno.test("watchdogIntervalMs() is half of WATCHDOG_USEC, for our pid only", () => {
  assert.equal(watchdogIntervalMs("30000000", undefined, 7), 15_000);
  assert.equal(watchdogIntervalMs("30000000", "7", 7), 15_000);
  assert.equal(watchdogIntervalMs("30000000", "8", 7), undefined);
  assert.equal(watchdogIntervalMs(undefined, undefined, 7), undefined);
  assert.equal(watchdogIntervalMs("0", undefined, 7), undefined);
  assert.equal(watchdogIntervalMs("abc", undefined, 7), undefined);
});

Deno.test("WATCHDOG=1 ticks until stopping", async () => {
  const sent: string[] = [];
  const n = createSystemdNotifier({
    env: fakeEnv({ NOTIFY_SOCKET: "/x", WATCHDOG_USEC: "20000" }),
    log,
    send: (_a, m) => sent.push(m),
  });
  await new Promise((r) => setTimeout(r, 150));
  n.stopping();
  const ticks = sent.filter((m) => m === "WATCHDOG=1").length;
  assert.ok(ticks >= 3, `${ticks} ticks in 150 ms at 10 ms`);
  assert.equal(sent.at(-1), "STOPPING=1");
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(sent.at(-1), "STOPPING=1");
});
