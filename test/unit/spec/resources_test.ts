import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { toLinuxResources } from "../../../src/spec/mod.ts";
import type { LinuxContainerResources } from "../../../src/cri/types.ts";
import { resources as emptyResources } from "./_fixtures.ts";

const resources = (over: Partial<LinuxContainerResources> = {}): LinuxContainerResources => ({
  ...emptyResources(),
  ...over,
});

Deno.test("toLinuxResources() takes the CPU values kubelet sends, at the kernel's bounds too", () => {
  assert.deepEqual(
    toLinuxResources(resources({ cpu_shares: "2", cpu_period: "100000", cpu_quota: "1000" }), "r")
      .cpu,
    { shares: 2, period: 100000, quota: 1000 },
  );
  assert.deepEqual(
    toLinuxResources(resources({ cpu_shares: "262144", cpu_period: "1000000" }), "r").cpu,
    { shares: 262144, period: 1000000 },
  );
  assert.deepEqual(
    toLinuxResources(resources({ cpu_period: "1000", cpu_quota: "-1" }), "r").cpu,
    { period: 1000, quota: -1 },
    "a negative quota is no limit",
  );
});

Deno.test("toLinuxResources() refuses CPU values the kernel refuses, naming the field", () => {
  const cases: [Partial<LinuxContainerResources>, string][] = [
    [{ cpu_shares: "1" }, "linux.resources.cpu_shares must be 0 (not set) or 2 to 262144, got 1"],
    [
      { cpu_shares: "1000000000000" },
      "linux.resources.cpu_shares must be 0 (not set) or 2 to 262144, got 1000000000000",
    ],
    [
      { cpu_period: "999" },
      "linux.resources.cpu_period must be 0 (not set) or 1000 to 1000000, got 999",
    ],
    [
      { cpu_period: "1000001" },
      "linux.resources.cpu_period must be 0 (not set) or 1000 to 1000000, got 1000001",
    ],
    [
      { cpu_quota: "999" },
      "linux.resources.cpu_quota must be 0 (not set) or at least 1000, got 999",
    ],
  ];
  for (const [over, message] of cases) {
    assert.throws(
      () => toLinuxResources(resources(over), "linux.resources"),
      (err: unknown) => err instanceof InvalidArgumentError && err.message === message,
      message,
    );
  }
});
