import assert from "node:assert/strict";
import { readCadvisorCounters } from "../../../src/cgroups/cadvisor.ts";
import { v2Layout, writeTree } from "./_fixtures.ts";

Deno.test("readCadvisorCounters() reads a cgroup v2 directory", async () => {
  const root = await Deno.makeTempDir({ prefix: "ocid-unit-cadvisor-" });
  try {
    await writeTree(root, {
      "pod/c/cpu.stat":
        "usage_usec 9000000\nuser_usec 6000000\nsystem_usec 3000000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 250000\n",
      "pod/c/cpu.max": "20000 100000\n",
      "pod/c/cpu.weight": "100\n",
      "pod/c/memory.max": "67108864\n",
      "pod/c/memory.low": "33554432\n",
      "pod/c/memory.swap.max": "max\n",
      "pod/c/memory.stat": "anon 10\nfile 4096\nfile_mapped 512\nkernel 2048\n",
      "pod/c/memory.peak": "99999\n",
      "pod/c/memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
      "pod/c/cgroup.threads": "10\n11\n",
      "pod/c/cgroup.procs": "10\n",
      "pod/c/pids.max": "1024\n",
      "pod/c/io.stat": "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n",
    });
    const c = await readCadvisorCounters(v2Layout(root), "/pod/c");
    assert.deepEqual(c, {
      cpu: {
        userSeconds: 6,
        systemSeconds: 3,
        periods: 10,
        throttledPeriods: 2,
        throttledSeconds: 0.25,
      },
      // cpu.weight 100 (the v2 default) read as shares with the inverse of runc's conversion.
      spec: {
        cpuPeriod: 100000,
        cpuQuota: 20000,
        cpuShares: 2597,
        memoryLimit: 67108864,
        memoryReservation: 33554432,
        memorySwapLimit: 0,
      },
      memory: {
        cache: 4096,
        mappedFile: 512,
        kernel: 2048,
        maxUsage: 99999,
        failcnt: 5,
        oomKills: 1,
      },
      threads: { current: 2, max: 1024 },
      blockIo: [{ major: 8, minor: 0, readBytes: 1024, writeBytes: 2048, reads: 1, writes: 2 }],
      pids: [10],
    });
    assert.deepEqual(await readCadvisorCounters(v2Layout(root), "/gone"), {}, "a cgroup gone");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
