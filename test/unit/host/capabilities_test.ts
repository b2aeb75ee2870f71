import assert from "node:assert/strict";
import {
  hostCapabilities,
  parseCapBnd,
  probeHostCapabilities,
} from "../../../src/host/capabilities.ts";
import { ALL_CAPABILITIES } from "../../../src/spec/default.ts";

/** /proc/self/status of this machine's daemon: everything but CAP_SYS_RESOURCE (bit 24). */
const STATUS = [
  "Name:\tdeno",
  "CapInh:\t0000000000000000",
  "CapPrm:\t000001fffeffffff",
  "CapEff:\t000001fffeffffff",
  "CapBnd:\t000001fffeffffff",
  "CapAmb:\t0000000000000000",
  "",
].join("\n");

Deno.test("parseCapBnd() reads the bounding set and names what it lacks", () => {
  const host = parseCapBnd(STATUS);
  assert.deepEqual(host.missing, ["CAP_SYS_RESOURCE"]);
  assert.deepEqual(host.bounding, ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE"));
  assert.equal(host.bounding.length, 40);
});

Deno.test("parseCapBnd() maps bit n to capability number n", () => {
  const only = (mask: string) => parseCapBnd(`CapBnd:\t${mask}\n`).bounding;
  assert.deepEqual(only("0000000000000001"), ["CAP_CHOWN"]);
  assert.deepEqual(only("0000000000200000"), ["CAP_SYS_ADMIN"]);
  assert.deepEqual(only("0000010000000000"), ["CAP_CHECKPOINT_RESTORE"]);
  assert.deepEqual(only("0000000000000000"), []);
  // bits beyond the table (a newer kernel) are ignored: runc would not know their names
  assert.deepEqual(only("0000020000000001"), ["CAP_CHOWN"]);
  assert.deepEqual(parseCapBnd("CapBnd: 000001ffffffffff").missing, []);
});

Deno.test("parseCapBnd() refuses a status without a CapBnd line", () => {
  assert.throws(() => parseCapBnd("CapEff:\t000001ffffffffff\n"), TypeError);
});

Deno.test("hostCapabilities() keeps kernel order and drops unknown names", () => {
  const host = hostCapabilities(["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_BOGUS"]);
  assert.deepEqual(host.bounding, ["CAP_CHOWN", "CAP_SYS_ADMIN"]);
  assert.equal(host.missing.length, ALL_CAPABILITIES.length - 2);
});

Deno.test("probeHostCapabilities() reads through the injected reader", () => {
  assert.deepEqual(probeHostCapabilities({ readStatus: () => STATUS }).missing, [
    "CAP_SYS_RESOURCE",
  ]);
  assert.throws(
    () => probeHostCapabilities({ readStatus: () => "Name:\tx\n" }),
    /bounding set/,
  );
  assert.throws(
    () =>
      probeHostCapabilities({
        readStatus: () => {
          throw new Deno.errors.PermissionDenied("no");
        },
      }),
    /bounding set: no/,
  );
});

Deno.test("probeHostCapabilities() of this process matches its CapBnd", () => {
  const status = Deno.readTextFileSync("/proc/self/status");
  const mask = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)/m.exec(status)![1]}`);
  const host = probeHostCapabilities();
  for (const [bit, name] of ALL_CAPABILITIES.entries()) {
    assert.equal(host.bounding.includes(name), ((mask >> BigInt(bit)) & 1n) === 1n, name);
  }
});
