import assert from "node:assert/strict";
import { join } from "node:path";
import { deleteStopped, directlyDeletable } from "../../../src/oci/direct_delete.ts";
import { readProcStat } from "../../../src/oci/proc_stat.ts";
import { exists } from "../../../src/exists.ts";

/** A state.json as runc 1.1.5 writes it (the fields read, trimmed), for a stopped container. */
function runcState(over: Record<string, unknown> = {}, config: Record<string, unknown> = {}) {
  return {
    id: "c1",
    init_process_pid: 999_999_999,
    init_process_start: 1903427,
    created: "2026-12-03T21:44:26.741101873Z",
    rootless: false,
    cgroup_paths: {
      "": "/sys/fs/cgroup/unified/ocid-unit-absent/c1",
      cpu: "/sys/fs/cgroup/cpu,cpuacct/ocid-unit-absent/c1",
      cpuacct: "/sys/fs/cgroup/cpu,cpuacct/ocid-unit-absent/c1",
      pids: "/sys/fs/cgroup/pids/ocid-unit-absent/c1",
    },
    intel_rdt_path: "",
    config: {
      namespaces: [{ type: "NEWPID", path: "" }, { type: "NEWNET", path: "/run/netns/x" }],
      cgroups: { Systemd: false },
      Hooks: {
        createContainer: null,
        createRuntime: null,
        poststart: null,
        poststop: null,
        prestart: null,
        startContainer: null,
      },
      ...config,
    },
    ...over,
  };
}

Deno.test("directlyDeletable() lists each cgroup dir of a plain stopped runc container once", () => {
  assert.deepEqual(directlyDeletable(runcState()), [
    "/sys/fs/cgroup/unified/ocid-unit-absent/c1",
    "/sys/fs/cgroup/cpu,cpuacct/ocid-unit-absent/c1",
    "/sys/fs/cgroup/pids/ocid-unit-absent/c1",
  ]);
  assert.deepEqual(
    directlyDeletable(runcState({}, { Hooks: { poststop: [] } })),
    directlyDeletable(runcState()),
    "an empty poststop list runs nothing",
  );
});

Deno.test("directlyDeletable() leaves to runc what its delete does beyond rmdir", () => {
  const refused: [string, ReturnType<typeof runcState>][] = [
    ["poststop hooks", runcState({}, { Hooks: { poststop: [{ path: "/bin/true" }] } })],
    [
      "a PID namespace joined by path",
      runcState({}, {
        namespaces: [{ type: "NEWPID", path: "/proc/1/ns/pid" }],
      }),
    ],
    ["the host's PID namespace", runcState({}, { namespaces: [{ type: "NEWNET", path: "" }] })],
    ["systemd cgroups", runcState({}, { cgroups: { Systemd: true } })],
    ["no cgroup driver said", runcState({}, { cgroups: null })],
    ["rootless", runcState({ rootless: true })],
    ["Intel RDT", runcState({ intel_rdt_path: "/sys/fs/resctrl/c1" })],
    ["hooks of an unknown shape", runcState({}, { Hooks: undefined })],
    ["a cgroup outside /sys/fs/cgroup", runcState({ cgroup_paths: { pids: "/tmp/c1" } })],
    ["a cgroup path climbing out", runcState({ cgroup_paths: { pids: "/sys/fs/cgroup/../x" } })],
    ["no cgroup paths", runcState({ cgroup_paths: null })],
    ["no config", runcState({ config: null })],
  ];
  for (const [why, state] of refused) assert.equal(directlyDeletable(state), undefined, why);
});

async function stateDir(state: unknown): Promise<{ root: string; dir: string }> {
  const root = await Deno.makeTempDir({ prefix: "ocid-direct-delete-" });
  const dir = join(root, "c1");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(join(dir, "state.json"), JSON.stringify(state));
  return { root, dir };
}

Deno.test("deleteStopped() removes the state dir of a container whose init has ended", async () => {
  // The cgroups named are absent: their removal is done (as runc's rmdir takes ENOENT).
  const { root, dir } = await stateDir(runcState());
  try {
    assert.equal(await deleteStopped(dir), "deleted");
    assert.equal(await exists(dir), false);
    assert.equal(await deleteStopped(dir), "absent", "runc has no such container any more");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("deleteStopped() leaves a live init, a half-made dir and an unremovable cgroup to runc", async () => {
  const sleeper = new Deno.Command("sleep", { args: ["30"] }).spawn();
  try {
    const start = (await readProcStat(sleeper.pid))!.startTime;
    const cases: [string, unknown][] = [
      ["the init alive", runcState({ init_process_pid: sleeper.pid, init_process_start: +start })],
      ["a cgroup rmdir refuses", runcState({ cgroup_paths: { pids: "/sys/fs/cgroup/." } })],
      ["a state of unknown shape", runcState({ init_process_pid: "1" })],
      ["not JSON of an object", null],
    ];
    for (const [why, state] of cases) {
      const { root, dir } = await stateDir(state);
      try {
        assert.equal(await deleteStopped(dir), undefined, why);
        assert.equal(await exists(join(dir, "state.json")), true, `${why}: state kept`);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    }
    // The same pid with another start time is a reused pid: the init has ended.
    const { root, dir } = await stateDir(
      runcState({ init_process_pid: sleeper.pid, init_process_start: +start + 1 }),
    );
    try {
      assert.equal(await deleteStopped(dir), "deleted");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
  const root = await Deno.makeTempDir({ prefix: "ocid-direct-delete-" });
  try {
    await Deno.mkdir(join(root, "c1"));
    assert.equal(await deleteStopped(join(root, "c1")), undefined, "a dir without state.json");
    assert.equal(await exists(join(root, "c1")), true);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
