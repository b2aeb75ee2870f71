/** Unit tests of the garbage sweep with a fake host, runtime and network. */
import assert from "node:assert/strict";
import { denoGcHost, type GcDeps, type GcHost, sweep } from "../../src/gc.ts";
import { nullLogger } from "../../src/log.ts";
import { ExecFiles } from "../../src/oci/exec_files.ts";

function fakes(files: string[], opts: { procs?: { pid: number; args: string[] }[] } = {}) {
  const fs = new Set(files);
  const calls: string[] = [];
  const host: GcHost = {
    readDir(path) {
      const names = new Map<string, boolean>();
      for (const f of fs) {
        if (!f.startsWith(path + "/")) continue;
        const rest = f.slice(path.length + 1).split("/");
        names.set(rest[0]!, (names.get(rest[0]!) ?? false) || rest.length > 1);
      }
      return Promise.resolve([...names].map(([name, isDirectory]) => ({ name, isDirectory })));
    },
    exists: (path) => Promise.resolve([...fs].some((f) => f === path || f.startsWith(path + "/"))),
    mtimeMs: () => Promise.resolve(1000),
    mounts: () => Promise.resolve([]),
    unmount(path) {
      calls.push(`umount ${path}`);
      return Promise.resolve();
    },
    remove(path) {
      calls.push(`rm ${path}`);
      for (const f of [...fs]) if (f === path || f.startsWith(path + "/")) fs.delete(f);
      return Promise.resolve();
    },
    processes: () => Promise.resolve((opts.procs ?? []).map((p) => ({ ...p, comm: "conmon" }))),
    kill(pid) {
      calls.push(`kill ${pid}`);
    },
  };
  const deps: GcDeps = {
    config: { root: "/r", runroot: "/run", podLogDir: "/logs" },
    log: nullLogger,
    runtime: {
      list: () =>
        Promise.resolve([{ id: "orphan", status: "running" }, { id: "pod1", status: "running" }]),
      kill: (id) => (calls.push(`runtime kill ${id}`), Promise.resolve()),
      delete: (id) => (calls.push(`runtime delete ${id}`), Promise.resolve()),
    },
    network: { tearDown: (req) => (calls.push(`cni del ${req.id}`), Promise.resolve()) },
    netns: { remove: (p) => (calls.push(`netns rm ${p}`), Promise.resolve()) },
    images: { unmountRootfs: (id) => (calls.push(`rootfs umount ${id}`), Promise.resolve()) },
    holders: {
      pinned: {
        list: () =>
          Promise.resolve(
            [...fs].filter((f) => f.startsWith("/run/podns/")).map((f) => f.split("/")[3]!),
          ).then((ids) => [...new Set(ids)]),
        unpin: (id) => (calls.push(`unpin ${id}`), Promise.resolve()),
      },
    },
    sandboxes: { has: (id) => id === "pod1" },
    containers: { has: (id) => id === "ctr1" },
    execFiles: { dir: "/run/exec", inUse: (name) => name.startsWith("ctr1.live.") },
  };
  return { deps, host, calls, fs };
}

Deno.test("sweep() removes a half-made sandbox, its netns, CNI allocation and runtime state", async () => {
  const { deps, host, calls } = fakes([
    "/r/sandboxes/pod1/sandbox.json",
    "/r/sandboxes/half/config.json",
    "/run/netns/half",
    "/r/cni-cache/half.json",
    "/run/sandboxes/half/shm",
  ]);
  const report = await sweep(deps, { host });
  assert.ok(calls.includes("cni del half"));
  assert.ok(calls.includes("netns rm /run/netns/half"));
  assert.ok(calls.includes("rm /r/sandboxes/half"));
  assert.ok(calls.includes("runtime delete orphan"));
  assert.ok(!calls.some((c) => c.includes("pod1")), "the recorded pod is left alone");
  assert.deepEqual(report.failed, []);
});

Deno.test("sweep() removes container dirs, exit files and socket links no record owns", async () => {
  const { deps, host, calls } = fakes([
    "/r/containers/ctr1/bundle/config.json",
    "/r/containers/gone/bundle/config.json",
    "/r/containers-meta/gone2/tmp",
    "/run/exits/gone",
    "/run/exits/ctr1",
    "/run/socket/gone",
  ]);
  await sweep(deps, { host });
  assert.ok(calls.includes("rootfs umount gone"));
  assert.ok(calls.includes("rm /r/containers/gone"));
  assert.ok(calls.includes("rm /r/containers-meta/gone2"));
  assert.ok(calls.includes("rm /run/exits/gone"));
  assert.ok(calls.includes("rm /run/socket/gone"));
  assert.ok(!calls.some((c) => c.includes("ctr1")));
});

Deno.test("sweep() removes CNI cache temp files a crash left, not the cache entries", async () => {
  const { deps, host, calls } = fakes([
    "/r/sandboxes/pod1/sandbox.json",
    "/r/cni-cache/pod1.json",
    "/r/cni-cache/.pod1.json.123.tmp",
  ]);
  await sweep(deps, { host });
  assert.ok(calls.includes("rm /r/cni-cache/.pod1.json.123.tmp"));
  assert.ok(!calls.includes("rm /r/cni-cache/pod1.json"));
  assert.ok(!calls.some((c) => c.startsWith("cni del")), "a temp file is not a sandbox");
});

Deno.test("sweep() kills only this daemon's conmon processes of unknown IDs", async () => {
  const { deps, host, calls } = fakes([], {
    procs: [
      { pid: 10, args: ["conmon", "-c", "orphan", "--exit-dir", "/run/exits"] },
      { pid: 11, args: ["conmon", "-c", "ctr1", "--exit-dir", "/run/exits"] },
      { pid: 12, args: ["conmon", "-c", "other", "--exit-dir", "/elsewhere/exits"] },
    ],
  });
  await sweep(deps, { host });
  assert.deepEqual(calls.filter((c) => c.startsWith("kill")), ["kill 10"]);
});

Deno.test("sweep() leaves in-flight and young traces alone on demand", async () => {
  const { deps, host, calls } = fakes(["/r/sandboxes/new/config.json", "/run/netns/new"]);
  await sweep(deps, { host, isInFlight: (id) => id === "new" });
  assert.ok(!calls.some((c) => c.includes("new")));
  const young = fakes(["/r/sandboxes/young/config.json"]);
  await sweep(young.deps, { host: young.host, minAgeMs: 60_000, now: () => 2000 });
  assert.ok(!young.calls.some((c) => c.includes("young")));
});

Deno.test("sweep() on demand spares the conmon of a container being created (in flight)", async () => {
  const procs = [{ pid: 10, args: ["conmon", "-c", "making", "--exit-dir", "/run/exits"] }];
  const demand = fakes(["/r/containers/making/bundle/config.json"], { procs });
  await sweep(demand.deps, {
    host: demand.host,
    isInFlight: (id) => id === "making",
    minAgeMs: 60_000,
    now: () => 2000,
  });
  assert.deepEqual(demand.calls, [], "CreateContainer runs it before there is a record");
  const startup = fakes(["/r/containers/making/bundle/config.json"], { procs });
  await sweep(startup.deps, { host: startup.host });
  assert.ok(startup.calls.includes("kill 10"), "at start-up nothing is being created");
});

Deno.test("sweep() removes ExecSync files of no exec in flight, whatever their age", async () => {
  const { deps, host, calls } = fakes([
    "/run/exec/ctr1.live.json",
    "/run/exec/ctr1.live.pid",
    "/run/exec/ctr1.done.json",
    "/run/exec/.ctr1.done.pid",
    "/run/exec/gone.old.pid",
  ]);
  await sweep(deps, { host, minAgeMs: 60_000, now: () => 2000 });
  assert.deepEqual(calls.filter((c) => c.includes("/run/exec/")).sort(), [
    "rm /run/exec/.ctr1.done.pid",
    "rm /run/exec/ctr1.done.json",
    "rm /run/exec/gone.old.pid",
  ]);
});

Deno.test("sweep() at start-up removes the files a crashed daemon's execs left", async () => {
  const runroot = await Deno.makeTempDir({ prefix: "ocid-gc-exec-" });
  try {
    const dir = `${runroot}/exec`;
    // What a daemon killed during an exec leaves: the spec, runc's pid file and its temp file.
    const before = new ExecFiles(dir);
    const left = await before.create("ctr1", { args: ["sleep", "9"] });
    await Deno.writeTextFile(left.pidFile, "123");
    await Deno.writeTextFile(`${dir}/.${left.pidFile.slice(dir.length + 1)}`, "123");
    // The new daemon has one exec in flight already (an on-demand sweep sees that).
    const execFiles = new ExecFiles(dir);
    const live = await execFiles.create("ctr1", { args: ["true"] });
    const { deps } = fakes([]);
    await sweep(
      { ...deps, config: { ...deps.config, runroot }, execFiles },
      { host: denoGcHost({ run: () => Promise.reject(new Error("no runner")) }) },
    );
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
    assert.deepEqual(names, [live.processFile.slice(dir.length + 1)]);
    execFiles.release(live);
    await execFiles.settled();
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  } finally {
    await Deno.remove(runroot, { recursive: true });
  }
});
