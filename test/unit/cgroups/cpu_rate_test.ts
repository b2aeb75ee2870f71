import assert from "node:assert/strict";
import { CpuRate } from "../../../src/cgroups/mod.ts";

const S = 1_000_000_000n;

Deno.test("CpuRate.sample() gives no rate for a first sample", () => {
  const rate = new CpuRate();
  assert.equal(rate.sample("a", { atNs: 10n * S, usageNs: 5n * S }), undefined);
});

Deno.test("CpuRate.sample() computes nanocores from the previous sample", () => {
  const rate = new CpuRate();
  rate.sample("a", { atNs: 10n * S, usageNs: 5n * S });
  // 1.5 s of CPU over 2 s: 0.75 cores.
  assert.equal(rate.sample("a", { atNs: 12n * S, usageNs: 5n * S + 1_500_000_000n }), 750_000_000n);
  // Next rate is over the interval since the last sample.
  assert.equal(rate.sample("a", { atNs: 13n * S, usageNs: 7n * S + 500_000_000n }), S);
});

Deno.test("CpuRate.sample() keeps the sample and its rate for calls close together", () => {
  const rate = new CpuRate({ minIntervalMs: 100 });
  rate.sample("a", { atNs: 10n * S, usageNs: 0n });
  assert.equal(rate.sample("a", { atNs: 11n * S, usageNs: S / 2n }), S / 2n);
  // 1 ms later: same rate, sample not replaced.
  assert.equal(rate.sample("a", { atNs: 11n * S + 1_000_000n, usageNs: S }), S / 2n);
  assert.equal(rate.sample("a", { atNs: 12n * S, usageNs: S }), S / 2n);
});

Deno.test("CpuRate.sample() gives no rate when the counter goes backwards", () => {
  const rate = new CpuRate();
  rate.sample("a", { atNs: 10n * S, usageNs: 5n * S });
  assert.equal(rate.sample("a", { atNs: 11n * S, usageNs: S }), undefined);
  assert.equal(rate.sample("a", { atNs: 12n * S, usageNs: 2n * S }), S);
});

Deno.test("CpuRate.retain() drops the samples of other keys", () => {
  const rate = new CpuRate();
  rate.sample("a", { atNs: 1n, usageNs: 1n });
  rate.sample("b", { atNs: 1n, usageNs: 1n });
  rate.retain(new Set(["b"]));
  assert.equal(rate.size, 1);
  assert.equal(rate.sample("a", { atNs: 2n * S, usageNs: 2n }), undefined);
});
