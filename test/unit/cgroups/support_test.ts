import assert from "node:assert/strict";
import {
  type CgroupSupportFs,
  pageSizeName,
  parseCgroupMounts,
  probeCgroupSupport,
} from "../../../src/cgroups/mod.ts";

/** A fake filesystem: a set of files (with text) and the directories they imply. */
function fakeFs(files: Record<string, string>): CgroupSupportFs {
  return {
    readDir: (dir) =>
      Promise.resolve(
        Object.keys(files).filter((p) => p.startsWith(`${dir}/`))
          .map((p) => p.slice(dir.length + 1).split("/")[0]!),
      ),
    exists: (path) =>
      Promise.resolve(Object.keys(files).some((p) => p === path || p.startsWith(`${path}/`))),
    readText: (path) => Promise.resolve(files[path] ?? ""),
  };
}

// This machine's layout: v1 hierarchies without hugetlb, cgroup2 at /sys/fs/cgroup/unified
// offering hugetlb (which runc's v1 driver does not use).
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const POOLS = {
  "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages": "0",
  "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages": "0",
};

Deno.test("pageSizeName() writes sizes like runc and kubelet", () => {
  assert.equal(pageSizeName(64 * 1024), "64KB");
  assert.equal(pageSizeName(2 * 1024 ** 2), "2MB");
  assert.equal(pageSizeName(1024 ** 3), "1GB");
  assert.equal(pageSizeName(32 * 1024 ** 3), "32GB");
});

Deno.test("probeCgroupSupport() on a hybrid host: v1 driver, no hugetlb, cgroup2's hugetlb unused", async () => {
  const layout = parseCgroupMounts(HYBRID, ["hugetlb"]);
  const support = await probeCgroupSupport(
    layout,
    fakeFs({
      ...POOLS,
      "/sys/fs/cgroup/cpu/cpu.rt_runtime_us": "950000",
      "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes": "-1",
    }),
  );
  assert.deepEqual(support, {
    mode: "v1",
    controllers: ["cpu", "cpuset", "memory", "pids"],
    hugePageSizes: [],
    cpuRealtime: true,
    memorySwap: true,
  });
});

Deno.test("probeCgroupSupport() on v1 reads the sizes of the hugetlb hierarchy, and misses rt and memsw", async () => {
  const layout = parseCgroupMounts(
    HYBRID + "42 31 0:39 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb\n",
  );
  const support = await probeCgroupSupport(
    layout,
    fakeFs({
      ...POOLS,
      "/sys/fs/cgroup/hugetlb/hugetlb.2MB.limit_in_bytes": "-1",
      "/sys/fs/cgroup/hugetlb/hugetlb.2MB.usage_in_bytes": "0",
      "/sys/fs/cgroup/cpu/cpu.shares": "1024",
      "/sys/fs/cgroup/memory/memory.limit_in_bytes": "-1",
    }),
  );
  assert.equal(support.mode, "v1");
  assert.ok(support.controllers.includes("hugetlb"));
  assert.deepEqual(support.hugePageSizes, ["2MB"], "only the sizes the controller has files for");
  assert.equal(support.cpuRealtime, false);
  assert.equal(support.memorySwap, false);
});

Deno.test("probeCgroupSupport() on v2 takes root controllers, kernel pools and our own swap file", async (t) => {
  const v2 = "31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
  await t.step("with hugetlb and swap", async () => {
    const support = await probeCgroupSupport(
      parseCgroupMounts(v2, ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"]),
      fakeFs({
        ...POOLS,
        "/proc/self/cgroup": "0::/system.slice/ocid.service\n",
        "/sys/fs/cgroup/system.slice/ocid.service/memory.swap.max": "max",
      }),
    );
    assert.equal(support.mode, "v2");
    assert.deepEqual(support.hugePageSizes.sort(), ["1GB", "2MB"]);
    assert.equal(support.cpuRealtime, false, "cgroup v2 has no realtime knobs");
    assert.equal(support.memorySwap, true);
  });
  await t.step("without hugetlb or swap", async () => {
    const support = await probeCgroupSupport(
      parseCgroupMounts(v2, ["cpu", "memory", "pids"]),
      fakeFs({ ...POOLS, "/proc/self/cgroup": "0::/\n" }),
    );
    assert.deepEqual(support.hugePageSizes, [], "the pools exist but no controller limits them");
    assert.equal(support.memorySwap, false);
    assert.ok(!support.controllers.includes("cpuset"));
  });
});
