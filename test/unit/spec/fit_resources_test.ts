import assert from "node:assert/strict";
import type { CgroupSupport } from "../../../src/cgroups/mod.ts";
import { fitResources } from "../../../src/spec/fit_resources.ts";
import { toLinuxResources } from "../../../src/spec/mod.ts";
import type { LinuxContainerResources } from "../../../src/cri/types.ts";

/** What kubelet 1.29 sends for a best-effort container on a v1 host with two hugepage pools. */
function kubeletResources(): LinuxContainerResources {
  return {
    cpu_period: "100000",
    cpu_quota: "0",
    cpu_shares: "2",
    memory_limit_in_bytes: "0",
    oom_score_adj: "1000",
    cpuset_cpus: "",
    cpuset_mems: "",
    hugepage_limits: [{ page_size: "2MB", limit: "0" }, { page_size: "1GB", limit: "0" }],
    unified: {},
    memory_swap_limit_in_bytes: "0",
  };
}

const HYBRID_NO_HUGETLB: CgroupSupport = {
  mode: "v1",
  controllers: ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"],
  hugePageSizes: [],
  cpuRealtime: true,
  memorySwap: true,
};

Deno.test("fitResources() drops kubelet's hugepage limits without a hugetlb controller", () => {
  const resources = toLinuxResources(kubeletResources(), "linux.resources");
  const { resources: out, dropped } = fitResources(resources, HYBRID_NO_HUGETLB);
  assert.equal(out.hugepageLimits, undefined);
  assert.deepEqual(dropped, ["hugepageLimits[2MB]", "hugepageLimits[1GB]"]);
  assert.deepEqual(out.cpu, { shares: 2, period: 100000 }, "cpu limits stay");
  assert.ok(resources.hugepageLimits, "the input is not changed");
});

Deno.test("fitResources() keeps the page sizes the controller supports", () => {
  const resources = toLinuxResources(kubeletResources(), "linux.resources");
  const support = { ...HYBRID_NO_HUGETLB, controllers: ["cpu", "hugetlb"], hugePageSizes: ["2MB"] };
  const { resources: out, dropped } = fitResources(resources, support);
  assert.deepEqual(out.hugepageLimits, [{ pageSize: "2MB", limit: 0 }]);
  assert.deepEqual(dropped, ["hugepageLimits[1GB]"]);
});

Deno.test("fitResources() drops cpuset, rt, swap, pids and unified limits a host cannot enforce", () => {
  const support: CgroupSupport = {
    mode: "v1",
    controllers: ["cpu", "memory"],
    hugePageSizes: [],
    cpuRealtime: false,
    memorySwap: false,
  };
  const { resources, dropped } = fitResources({
    cpu: { shares: 512, cpus: "0-1", mems: "0", realtimeRuntime: 1000, realtimePeriod: 10000 },
    memory: { limit: 1 << 26, swap: 1 << 26 },
    pids: { limit: 100 },
    unified: { "memory.oom.group": "1" },
  }, support);
  assert.deepEqual(resources, { cpu: { shares: 512 }, memory: { limit: 1 << 26 } });
  assert.deepEqual(dropped.sort(), [
    "cpu.cpus",
    "cpu.mems",
    "cpu.realtimePeriod",
    "cpu.realtimeRuntime",
    "memory.swap",
    "pids.limit",
    "unified[memory.oom.group]",
  ]);
});

Deno.test("fitResources() on cgroup v2 keeps unified keys of offered controllers only", () => {
  const support: CgroupSupport = {
    mode: "v2",
    controllers: ["cpu", "memory", "pids"],
    hugePageSizes: [],
    cpuRealtime: false,
    memorySwap: true,
  };
  const { resources, dropped } = fitResources({
    unified: {
      "memory.oom.group": "1",
      "cgroup.freeze": "0",
      "io.max": "8:0 rbps=1",
      "memory.swap.max": "0",
    },
    memory: { limit: 1000, swap: 2000 },
  }, support);
  assert.deepEqual(resources.unified, {
    "memory.oom.group": "1",
    "cgroup.freeze": "0",
    "memory.swap.max": "0",
  });
  assert.deepEqual(resources.memory, { limit: 1000, swap: 2000 });
  assert.deepEqual(dropped, ["unified[io.max]"]);
});

Deno.test("fitResources() changes nothing a host supports", () => {
  const full: CgroupSupport = {
    mode: "v1",
    controllers: ["cpu", "cpuset", "memory", "pids", "hugetlb"],
    hugePageSizes: ["2MB", "1GB"],
    cpuRealtime: true,
    memorySwap: true,
  };
  const input = toLinuxResources(
    {
      ...kubeletResources(),
      memory_limit_in_bytes: "67108864",
      memory_swap_limit_in_bytes: "67108864",
      cpuset_cpus: "0",
    },
    "linux.resources",
  );
  const { resources, dropped } = fitResources(input, full);
  assert.deepEqual(resources, input);
  assert.deepEqual(dropped, []);
});

Deno.test("fitResources() gives a memory limit without a swap limit no swap, where swap is accounted", () => {
  const limited = toLinuxResources(
    { ...kubeletResources(), memory_limit_in_bytes: "67108864" },
    "linux.resources",
  );
  const { resources, dropped } = fitResources(limited, HYBRID_NO_HUGETLB);
  assert.deepEqual(resources.memory, { limit: 67108864, swap: 67108864 });
  assert.ok(!dropped.includes("memory.swap"));
  // The request's own swap limit, or a unified memory.swap.max (the kubelet's LimitedSwap on
  // cgroup v2), is left as it is; no limit, no swap limit; no swap accounting, none either.
  const own = toLinuxResources(
    {
      ...kubeletResources(),
      memory_limit_in_bytes: "67108864",
      memory_swap_limit_in_bytes: "134217728",
    },
    "linux.resources",
  );
  assert.equal(fitResources(own, HYBRID_NO_HUGETLB).resources.memory?.swap, 134217728);
  const v2: CgroupSupport = { ...HYBRID_NO_HUGETLB, mode: "v2" };
  const unified = { ...limited, unified: { "memory.swap.max": "1048576" } };
  assert.equal(fitResources(unified, v2).resources.memory?.swap, undefined);
  const unlimited = toLinuxResources(kubeletResources(), "linux.resources");
  assert.equal(fitResources(unlimited, HYBRID_NO_HUGETLB).resources.memory, undefined);
  const noAccounting = { ...HYBRID_NO_HUGETLB, memorySwap: false };
  assert.deepEqual(fitResources(limited, noAccounting).resources.memory, { limit: 67108864 });
});
