import assert from "node:assert/strict";
import { podIpsFromResult } from "../../../src/network/result.ts";
import { bridgeResult } from "./fake_runner.ts";

Deno.test("podIpsFromResult() reads a 1.0.0 result with interface names", () => {
  assert.deepEqual(podIpsFromResult(bridgeResult()), [
    { address: "10.234.1.5", family: 4, gateway: "10.234.1.1", interface: "eth0" },
  ]);
});

Deno.test("podIpsFromResult() reads 0.3.x versions and IPv6", () => {
  const res = {
    cniVersion: "0.3.1",
    ips: [
      { version: "4", address: "10.0.0.2/16" },
      { version: "6", address: "fd00::2/64", gateway: "fd00::1" },
    ],
  };
  assert.deepEqual(podIpsFromResult(res), [
    { address: "10.0.0.2", family: 4 },
    { address: "fd00::2", family: 6, gateway: "fd00::1" },
  ]);
});

Deno.test("podIpsFromResult() reads a 0.2.0 result", () => {
  assert.deepEqual(podIpsFromResult({ ip4: { ip: "10.1.0.3/24", gateway: "10.1.0.1" } }), [
    { address: "10.1.0.3", family: 4, gateway: "10.1.0.1" },
  ]);
});

Deno.test("podIpsFromResult() returns [] for results without IPs", () => {
  assert.deepEqual(podIpsFromResult(undefined), []);
  assert.deepEqual(podIpsFromResult({ cniVersion: "1.0.0", interfaces: [] }), []);
});
