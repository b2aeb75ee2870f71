import assert from "node:assert/strict";
import {
  type AttachWarmerFs,
  type CgroupLayout,
  createAttachWarmer,
  ownProcsFile,
} from "../../../src/cgroups/mod.ts";
import type { Logger } from "../../../src/log.ts";

const HYBRID: CgroupLayout = {
  v1: { cpu: "/sys/fs/cgroup/cpu", memory: "/sys/fs/cgroup/memory", pids: "/sys/fs/cgroup/pids" },
  v2: "/sys/fs/cgroup/unified",
  v2Controllers: [],
};
const LEGACY: CgroupLayout = {
  v1: { cpu: "/sys/fs/cgroup/cpu,cpuacct", cpuacct: "/sys/fs/cgroup/cpu,cpuacct" },
  v2: "",
  v2Controllers: [],
};
const UNIFIED: CgroupLayout = { v1: {}, v2: "/sys/fs/cgroup", v2Controllers: ["memory"] };

const PROC_HYBRID = `9:name=systemd:/system.slice/ocid.service
8:pids:/system.slice/ocid.service
4:memory:/system.slice/ocid.service
1:cpu,cpuacct:/
0::/system.slice/ocid.service
`;

Deno.test("ownProcsFile() picks cgroup2 when mounted, else the first v1 controller hierarchy", () => {
  assert.equal(
    ownProcsFile(UNIFIED, "0::/system.slice/ocid.service\n"),
    "/sys/fs/cgroup/system.slice/ocid.service/cgroup.procs",
  );
  assert.equal(
    ownProcsFile(HYBRID, PROC_HYBRID),
    "/sys/fs/cgroup/unified/system.slice/ocid.service/cgroup.procs",
  );
  assert.equal(ownProcsFile(HYBRID, "0::/\n"), "/sys/fs/cgroup/unified/cgroup.procs");
  // No cgroup2 mount: the name= hierarchy is skipped, a co-mounted one is found by either name.
  assert.equal(
    ownProcsFile({ ...HYBRID, v2: "" }, PROC_HYBRID),
    "/sys/fs/cgroup/pids/system.slice/ocid.service/cgroup.procs",
  );
  assert.equal(
    ownProcsFile(LEGACY, "2:name=systemd:/x\n1:cpu,cpuacct:/kubepods\n"),
    "/sys/fs/cgroup/cpu,cpuacct/kubepods/cgroup.procs",
  );
  // A path with a colon in it is kept whole.
  assert.equal(ownProcsFile(UNIFIED, "0::/a:b\n"), "/sys/fs/cgroup/a:b/cgroup.procs");
});

Deno.test("ownProcsFile() is undefined when no line names a mounted hierarchy", () => {
  assert.equal(ownProcsFile(LEGACY, "0::/\n9:name=systemd:/\n"), undefined);
  assert.equal(ownProcsFile(UNIFIED, "1:cpu:/\n"), undefined);
  assert.equal(ownProcsFile(UNIFIED, ""), undefined);
  assert.equal(ownProcsFile(UNIFIED, "0::relative\n"), undefined);
});

/** Files whose writes wait until `release()`, recording reads and writes. */
function fakeFs(procCgroup: string, fail?: Error) {
  const reads: string[] = [];
  const writes: Array<[string, string]> = [];
  let releases: Array<() => void> = [];
  const fs: AttachWarmerFs = {
    readTextFile(path) {
      reads.push(path);
      return Promise.resolve(procCgroup);
    },
    writeTextFile(path, data) {
      writes.push([path, data]);
      if (fail) return Promise.reject(fail);
      return new Promise((resolve) => releases.push(resolve));
    },
  };
  return {
    fs,
    reads,
    writes,
    release() {
      for (const r of releases) r();
      releases = [];
    },
  };
}

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
    const error = fields?.error;
    lines.push(`${level} ${msg} ${error instanceof Error ? error.message : ""}`.trim());
  };
  return { lines, debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("AttachWarmer moves the daemon onto its own cgroup, one warm at a time", async () => {
  const f = fakeFs(PROC_HYBRID);
  const warmer = createAttachWarmer({
    layout: Promise.resolve(HYBRID),
    pid: 4321,
    procCgroupPath: "/proc/self/cgroup",
    fs: f.fs,
  });
  warmer.warm();
  warmer.warm(); // the first is still writing: nothing more
  await tick();
  warmer.warm();
  await tick();
  assert.deepEqual(f.reads, ["/proc/self/cgroup"]);
  assert.deepEqual(f.writes, [
    ["/sys/fs/cgroup/unified/system.slice/ocid.service/cgroup.procs", "4321"],
  ]);
  f.release();
  await tick();
  // Done: the next warm writes again, reading where the daemon is anew.
  warmer.warm();
  await tick();
  assert.equal(f.reads.length, 2);
  assert.equal(f.writes.length, 2);
  f.release();
  await tick();
});

Deno.test("AttachWarmer does nothing where a cgroup mount has favordynmods", async () => {
  const f = fakeFs(PROC_HYBRID);
  const log = recordingLogger();
  const warmer = createAttachWarmer({
    layout: { ...HYBRID, favorDynmods: true },
    fs: f.fs,
    logger: log,
  });
  warmer.warm();
  await tick();
  warmer.warm();
  await tick();
  assert.deepEqual(f.reads, []);
  assert.deepEqual(f.writes, []);
  assert.deepEqual(log.lines, [
    "debug Cgroup attach warming is off: a cgroup mount has favordynmods",
  ]);
});

Deno.test("AttachWarmer turns itself off at its first failure, logged once", async () => {
  const denied = new Deno.errors.PermissionDenied("EACCES");
  const f = fakeFs(PROC_HYBRID, denied);
  const log = recordingLogger();
  const warmer = createAttachWarmer({ layout: HYBRID, fs: f.fs, logger: log });
  warmer.warm();
  await tick();
  warmer.warm();
  warmer.warm();
  await tick();
  assert.equal(f.writes.length, 1);
  assert.deepEqual(log.lines, ["info Cgroup attach warming is off EACCES"]);

  // No line of /proc/self/cgroup names a mounted hierarchy: off too, nothing written.
  const g = fakeFs("9:name=systemd:/\n");
  const log2 = recordingLogger();
  const lost = createAttachWarmer({ layout: LEGACY, fs: g.fs, logger: log2 });
  lost.warm();
  await tick();
  lost.warm();
  await tick();
  assert.deepEqual(g.reads, ["/proc/self/cgroup"]);
  assert.deepEqual(g.writes, []);
  assert.equal(log2.lines.length, 1);
  assert.match(log2.lines[0]!, /^info Cgroup attach warming is off .*no mounted cgroup hierarchy/);
});
