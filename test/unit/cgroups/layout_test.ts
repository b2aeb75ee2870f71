import assert from "node:assert/strict";
import {
  controllerDir,
  controllerVersion,
  parseCgroupMounts,
  parseProcCgroup,
} from "../../../src/cgroups/mod.ts";

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

Deno.test("parseCgroupMounts() finds v1 hierarchies and the cgroup2 mount of a hybrid host", () => {
  const layout = parseCgroupMounts(HYBRID, ["hugetlb"]);
  assert.deepEqual(layout.v1, {
    cpu: "/sys/fs/cgroup/cpu",
    cpuacct: "/sys/fs/cgroup/cpuacct",
    memory: "/sys/fs/cgroup/memory",
    pids: "/sys/fs/cgroup/pids",
  });
  assert.equal(layout.v2, "/sys/fs/cgroup/unified");
  assert.equal(controllerVersion(layout, "memory"), 1);
  assert.equal(controllerVersion(layout, "hugetlb"), 2);
  assert.equal(controllerVersion(layout, "io"), undefined);
});

Deno.test("parseCgroupMounts() maps co-mounted controllers to one hierarchy", () => {
  const layout = parseCgroupMounts(
    "25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
  );
  assert.equal(layout.v1.cpu, "/sys/fs/cgroup/cpu,cpuacct");
  assert.equal(layout.v1.cpuacct, "/sys/fs/cgroup/cpu,cpuacct");
  assert.equal(layout.v2, "");
});

Deno.test("parseCgroupMounts() of a unified host has cgroup2 only", () => {
  const layout = parseCgroupMounts(
    "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
    ["cpu", "memory", "pids"],
  );
  assert.deepEqual(layout.v1, {});
  assert.equal(layout.v2, "/sys/fs/cgroup");
  assert.equal(controllerVersion(layout, "memory"), 2);
});

Deno.test("parseCgroupMounts() unescapes mount points", () => {
  const layout = parseCgroupMounts("1 0 0:1 / /tmp/a\\040b - cgroup cgroup rw,memory\n");
  assert.equal(layout.v1.memory, "/tmp/a b");
});

Deno.test("parseCgroupMounts() notes favordynmods on a cgroup2 or v1 mount, and only there", () => {
  assert.equal(parseCgroupMounts(HYBRID).favorDynmods, undefined);
  assert.equal(
    parseCgroupMounts(
      "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate,favordynmods\n",
    ).favorDynmods,
    true,
  );
  assert.equal(
    parseCgroupMounts("39 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids,favordynmods\n")
      .favorDynmods,
    true,
  );
  assert.equal(
    parseCgroupMounts("31 23 0:28 / /mnt rw - tmpfs tmpfs rw,favordynmods\n").favorDynmods,
    undefined,
  );
});

Deno.test("controllerDir() finds a process's cgroup in the controller's v1 hierarchy, else in cgroup2", () => {
  const proc = "8:pids:/kubepods/pod1/c1\n2:cpu,cpuacct:/kubepods/pod1/c1\n0::/a:b\n";
  const hybrid = parseCgroupMounts(HYBRID, ["hugetlb"]);
  assert.equal(controllerDir(hybrid, proc, "pids"), "/sys/fs/cgroup/pids/kubepods/pod1/c1");
  assert.equal(controllerDir(hybrid, proc, "cpuacct"), "/sys/fs/cgroup/cpuacct/kubepods/pod1/c1");
  assert.equal(controllerDir(hybrid, proc, "hugetlb"), "/sys/fs/cgroup/unified/a:b");
  assert.equal(controllerDir(hybrid, proc, "memory"), undefined, "no memory line");
  assert.equal(controllerDir(hybrid, proc, "io"), undefined, "no such controller");
  assert.deepEqual(parseProcCgroup("0::relative\nbroken\n1:name=systemd:/x\n"), [
    { id: "1", controllers: "name=systemd", path: "/x" },
  ]);
});
