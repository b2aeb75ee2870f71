import assert from "node:assert/strict";
import { readCgroupStats, sumCgroupStats } from "../../../src/cgroups/mod.ts";
import { v1Layout, v2Layout, writeTree, writeV1Cgroup, writeV2Cgroup } from "./_fixtures.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ocid-unit-cgroups-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readCgroupStats() reads cgroup v1 files, hierarchical totals first", async () => {
  await withTempDir(async (root) => {
    await writeV1Cgroup(root, "/pod/ocid-a", {
      cpuNs: "123456789012345678",
      usage: 10_000_000,
      inactiveFile: 3_000_000,
      rss: 6_000_000,
      limit: String(64 << 20),
      pids: 4,
    });
    const s = await readCgroupStats(v1Layout(root), "/pod/ocid-a");
    assert.deepEqual(s, {
      cpu: { usageNs: 123456789012345678n },
      memory: {
        usageBytes: 10_000_000,
        workingSetBytes: 7_000_000,
        rssBytes: 6_000_000,
        pageFaults: 1000,
        majorPageFaults: 7,
        limitBytes: 64 << 20,
      },
      pids: { current: 4 },
    });
  });
});

Deno.test("readCgroupStats() v1: no limit, swap from memsw, working set never negative", async () => {
  await withTempDir(async (root) => {
    await writeV1Cgroup(root, "/a", {
      cpuNs: "1",
      usage: 1000,
      inactiveFile: 5000,
      memswLimit: "9223372036854771712",
      swap: 300,
    });
    const m = (await readCgroupStats(v1Layout(root), "/a"))?.memory;
    assert.equal(m?.workingSetBytes, 0);
    assert.equal(m?.limitBytes, undefined);
    assert.deepEqual(m?.swap, { usageBytes: 300 });

    await writeV1Cgroup(root, "/b", {
      cpuNs: "1",
      usage: 1000,
      inactiveFile: 0,
      limit: "1000000",
      memswLimit: "1500000",
      swap: 100,
    });
    const b = (await readCgroupStats(v1Layout(root), "/b"))?.memory;
    assert.deepEqual(b?.swap, { usageBytes: 100, limitBytes: 500000 });
  });
});

Deno.test("readCgroupStats() reads cgroup v2 files", async () => {
  await withTempDir(async (root) => {
    await writeV2Cgroup(root, "/kubepods.slice/ocid-a.scope", {
      usageUsec: 2_500_000,
      current: 50_000,
      inactiveFile: 10_000,
      max: "100000",
      swap: 0,
      swapMax: "200000",
    });
    const s = await readCgroupStats(v2Layout(root), "/kubepods.slice/ocid-a.scope");
    assert.deepEqual(s, {
      cpu: { usageNs: 2_500_000_000n },
      memory: {
        usageBytes: 50_000,
        workingSetBytes: 40_000,
        rssBytes: 8192,
        pageFaults: 500,
        majorPageFaults: 2,
        limitBytes: 100_000,
        swap: { usageBytes: 0, limitBytes: 200_000 },
      },
      pids: { current: 5 },
    });
  });
});

Deno.test("readCgroupStats() v2 without limits or swap accounting", async () => {
  await withTempDir(async (root) => {
    await writeV2Cgroup(root, "/a", { usageUsec: 1, current: 10, inactiveFile: 0 });
    const m = (await readCgroupStats(v2Layout(root), "/a"))?.memory;
    assert.equal(m?.limitBytes, undefined);
    assert.equal(m?.swap, undefined);
  });
});

Deno.test("readCgroupStats() returns undefined for a cgroup that does not exist", async () => {
  await withTempDir(async (root) => {
    assert.equal(await readCgroupStats(v1Layout(root), "/gone"), undefined);
    assert.equal(await readCgroupStats(v2Layout(root), "/gone"), undefined);
  });
});

Deno.test("readCgroupStats() reports only the controllers that exist", async () => {
  await withTempDir(async (root) => {
    await writeTree(root, { "cpuacct/a/cpuacct.usage": "42\n" });
    assert.deepEqual(await readCgroupStats(v1Layout(root), "/a"), { cpu: { usageNs: 42n } });
  });
});

Deno.test("sumCgroupStats() adds up CPU, memory and processes and drops limits", () => {
  const mem = {
    usageBytes: 10,
    workingSetBytes: 5,
    rssBytes: 3,
    pageFaults: 2,
    majorPageFaults: 1,
    limitBytes: 100,
  };
  const sum = sumCgroupStats([
    { cpu: { usageNs: 5n }, memory: mem, pids: { current: 1 } },
    { cpu: { usageNs: 7n }, memory: mem },
  ]);
  assert.deepEqual(sum, {
    cpu: { usageNs: 12n },
    memory: { usageBytes: 20, workingSetBytes: 10, rssBytes: 6, pageFaults: 4, majorPageFaults: 2 },
    pids: { current: 1 },
  });
  assert.equal(sumCgroupStats([]), undefined);
});
