import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../../src/errors.ts";
import { enforceableResources } from "../../../src/server/cgroup_fit.ts";
import { nullLogger } from "../../../src/log.ts";
import type { CgroupSupport } from "../../../src/cgroups/mod.ts";

const support: CgroupSupport = {
  mode: "v1",
  controllers: ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"],
  hugePageSizes: [],
  cpuRealtime: true,
  memorySwap: true,
};
const deps = { cgroupSupport: support, log: nullLogger };
const node = { cpus: () => "0-3", mems: () => "0" };

Deno.test("enforceableResources() keeps a cpuset of online CPUs and memory nodes", () => {
  const resources = { cpu: { cpus: "1-2", mems: "0", shares: 512 } };
  assert.deepEqual(enforceableResources(deps, resources, {}, node), resources);
});

Deno.test("enforceableResources() refuses a cpuset naming what the node does not have online", () => {
  assert.throws(
    () => enforceableResources(deps, { cpu: { cpus: "2-5" } }, {}, node),
    (err: unknown) =>
      err instanceof InvalidArgumentError &&
      err.message === 'cpuset_cpus "2-5" names CPU 4, which this node does not have online ("0-3")',
  );
  assert.throws(
    () => enforceableResources(deps, { cpu: { mems: "1" } }, {}, node),
    /cpuset_mems "1" names memory node 1, which this node does not have online \("0"\)/,
  );
});
