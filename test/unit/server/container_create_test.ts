/**
 * CreateContainer and StartContainer with a fake runtime and image service: the spec written
 * into the bundle, and bad input that fails with the right code and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { exists } from "../../../src/exists.ts";
import { join } from "node:path";
import type * as cri from "../../../src/cri/types.ts";
import { OcidError } from "../../../src/errors.ts";
import { NO_RUNTIME_FEATURES } from "../../../src/oci/runtime_features.ts";
import { containerBundle, createContainer } from "../../../src/server/container_create.ts";
import { startContainer } from "../../../src/server/container_start.ts";
import { addSandbox, decode, type TestDeps, testDeps } from "./_fakes.ts";

function request(
  sandboxId: string,
  config: cri.ContainerConfigInit = {},
): cri.CreateContainerRequest {
  return decode("CreateContainer", {
    pod_sandbox_id: sandboxId,
    config: {
      metadata: { name: "app", attempt: 1 },
      image: { image: "127.0.0.1:5000/busybox:latest" },
      log_path: "app/1.log",
      ...config,
    },
  });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof OcidError ? err.code : `other: ${(err as Error).message}`;
  }
  return "OK";
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(path))).map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

/** The fake image service's one image, by tag. */
const IMAGE = "127.0.0.1:5000/busybox:latest";

async function withDeps(fn: (deps: TestDeps) => Promise<void>): Promise<void> {
  const deps = await testDeps();
  try {
    await fn(deps);
  } finally {
    await Deno.remove(deps.dir, { recursive: true });
  }
}

Deno.test("createContainer() writes a spec that joins the pod and records a CREATED container", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps, { pid: "POD" });
    const hostDir = join(deps.dir, "data");
    await Deno.mkdir(hostDir);
    const res = await createContainer(
      deps,
      request(sandboxId, {
        args: ["echo", "hi"],
        envs: [{ key: "GREETING", value: "hello" }],
        labels: { app: "x" },
        mounts: [{ container_path: "/data", host_path: hostDir, readonly: true }],
        linux: {
          resources: { cpu_shares: 512, memory_limit_in_bytes: 64 << 20, oom_score_adj: -100 },
          security_context: { readonly_rootfs: true, run_as_user: { value: 1000 } },
        },
      }),
    );
    const id = res.container_id!;
    assert.match(id, /^[0-9a-f]{64}$/);
    const c = deps.containers.get(id);
    assert.equal(c.name, "k8s_app_pod_ns_uid-pod_1");
    assert.equal(c.status.state, "CONTAINER_CREATED");
    assert.equal(c.status.pid, 4242);
    assert.equal(c.metadata.stopSignal, "SIGQUIT");
    assert.equal(c.metadata.logPath, join(deps.dir, "logs", sandboxId, "app/1.log"));
    assert.deepEqual(c.metadata.user, { uid: 1000, gid: 0, additionalGids: [0] });
    const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    assert.deepEqual(spec.process.args, ["echo", "hi"]);
    assert.ok(spec.process.env.includes("GREETING=hello"));
    assert.equal(spec.process.user.uid, 1000);
    // Restricted (no CAP_SYS_RESOURCE): -100 is clamped to the daemon's own 0.
    assert.equal(spec.process.oomScoreAdj, 0);
    assert.equal(spec.root.readonly, true);
    const ns = Object.fromEntries(
      spec.linux.namespaces.map((n: { type: string; path?: string }) => [n.type, n.path ?? ""]),
    );
    assert.equal(ns.network, `/run/netns/test-${sandboxId.slice(0, 8)}`);
    assert.equal(ns.ipc, "/proc/777/ns/ipc");
    assert.equal(ns.uts, "/proc/777/ns/uts");
    assert.equal(ns.pid, "/proc/777/ns/pid");
    const dests = spec.mounts.map((m: { destination: string }) => m.destination);
    for (const d of ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev/shm", "/data"]) {
      assert.ok(dests.includes(d), `mount ${d}`);
    }
    assert.equal(spec.linux.resources.cpu.shares, 512);
    assert.equal(spec.linux.resources.memory.limit, 64 << 20);
    assert.equal(spec.linux.cgroupsPath, `/ocid-unit/ocid-${id}`);
    assert.equal(spec.annotations["io.kubernetes.cri.sandbox-id"], sandboxId);
    // The daemon forgets a removed container's exec template by this path.
    assert.equal(c.metadata.bundle, containerBundle(deps.config.root, id));
    const create = deps.fakeRuntime.calls.find((c) => c.verb === "create")!;
    assert.deepEqual(
      { ...(create.args[0] as Record<string, unknown>) },
      {
        id,
        bundle: c.metadata.bundle,
        persistDir: c.metadata.bundle,
        logPath: c.metadata.logPath,
        name: c.name,
        terminal: false,
        stdin: false,
        stdinOnce: false,
        runtimeHandler: "",
      },
    );
    assert.equal(deps.countingRunner.runs.length, 0);
  }));

Deno.test("createContainer() binds image volumes read-only, sub paths resolved in the image", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    const res = await createContainer(
      deps,
      request(sandboxId, {
        mounts: [
          { container_path: "/whole", image: { image: IMAGE } },
          // `link` names `/data`: the image's, not the host's.
          { container_path: "/part", image: { image: IMAGE }, image_sub_path: "link" },
        ],
      }),
    );
    const id = res.container_id!;
    const c = deps.containers.get(id);
    assert.deepEqual(c.metadata.volumeImageIds, [deps.fakeImages.image.id]);
    const volumes = join(deps.config.root, "containers", id, "image-volumes");
    const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    const byDest = new Map(
      spec.mounts.map((m: { destination: string }) => [m.destination, m] as const),
    );
    assert.deepEqual(byDest.get("/whole"), {
      destination: "/whole",
      type: "bind",
      source: join(volumes, "0"),
      options: ["rbind", "rprivate", "ro"],
    });
    assert.equal((byDest.get("/part") as { source: string }).source, join(volumes, "1", "data"));
    // The record keeps the mounts as they were asked for (ContainerStatus reports them).
    assert.deepEqual(
      c.metadata.config.mounts.map((m) => [m.host_path, m.image?.image, m.image_sub_path]),
      [["", IMAGE, ""], ["", IMAGE, "link"]],
    );
  }));

Deno.test("createContainer() makes rro mounts only where the pod's runtime handler can", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    const mount = {
      container_path: "/data",
      host_path: deps.dir,
      readonly: true,
      recursive_read_only: true,
    };
    const res = await createContainer(deps, request(sandboxId, { mounts: [mount] }));
    const c = deps.containers.get(res.container_id!);
    const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    const data = spec.mounts.find((m: { destination: string }) => m.destination === "/data");
    assert.ok(data.options.includes("rro"), JSON.stringify(data));

    // A handler whose runtime cannot (crun 1.8 has no `features`; a kernel before 5.12).
    deps.runtimeFeatures = new Map([[deps.config.runtime.name, NO_RUNTIME_FEATURES]]);
    const second = request(sandboxId, { mounts: [mount] });
    second.config!.metadata!.name = "second";
    await assert.rejects(createContainer(deps, second), {
      name: "FailedPreconditionError",
      message: /mounts\[0\]\.recursive_read_only: runtime handler "runc" cannot/,
    });
    assert.equal(deps.containers.size, 1, "nothing new was recorded");
    assert.equal(deps.fakeRuntime.calls.filter((c) => c.verb === "create").length, 1);
  }));

Deno.test("createContainer() applies the CDI devices asked for; with CDI off it refuses them", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    const cdiDir = join(deps.dir, "cdi");
    await Deno.mkdir(cdiDir);
    await Deno.writeTextFile(
      join(cdiDir, "test.json"),
      JSON.stringify({
        cdiVersion: "0.6.0",
        kind: "ocid.test/dev",
        devices: [{
          name: "null",
          containerEdits: {
            env: ["CDI=1"],
            deviceNodes: [{ path: "/dev/cdi-null", hostPath: "/dev/null" }],
            additionalGids: [44],
          },
        }],
      }),
    );
    deps.config = { ...deps.config, cdiSpecDirs: [cdiDir] };
    const devices = { CDI_devices: [{ name: "ocid.test/dev=null" }] };
    const res = await createContainer(deps, request(sandboxId, devices));
    const c = deps.containers.get(res.container_id!);
    const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    assert.ok(spec.process.env.includes("CDI=1"));
    // The groups the process has, as ContainerStatus reports them (the kubelet shows them).
    assert.ok(spec.process.user.additionalGids.includes(44));
    assert.deepEqual(c.metadata.user?.additionalGids, spec.process.user.additionalGids);
    assert.deepEqual(
      spec.linux.devices.find((d: { path: string }) => d.path === "/dev/cdi-null"),
      { type: "c", path: "/dev/cdi-null", major: 1, minor: 3, fileMode: 0o666 },
    );
    assert.deepEqual(spec.linux.resources.devices.at(-1), {
      allow: true,
      type: "c",
      major: 1,
      minor: 3,
      access: "rwm",
    });

    deps.config = { ...deps.config, enableCdi: false };
    const second = request(sandboxId, devices);
    second.config!.metadata!.name = "second";
    await assert.rejects(createContainer(deps, second), {
      name: "FailedPreconditionError",
      message: /CDI devices ocid.test\/dev=null: CDI is turned off/,
    });
    assert.equal(deps.containers.size, 1, "nothing new was recorded");
    assert.equal(deps.fakeRuntime.calls.filter((c) => c.verb === "create").length, 1);
  }));

Deno.test("createContainer() makes a missing mount host_path as a directory, as containerd does", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    const existing = join(deps.dir, "existing");
    await Deno.mkdir(existing, { mode: 0o700 });
    const hostPath = join(existing, "a", "b");
    const { container_id } = await createContainer(
      deps,
      request(sandboxId, { mounts: [{ container_path: "/x", host_path: hostPath }] }),
    );
    for (const dir of [join(existing, "a"), hostPath]) {
      const st = await Deno.stat(dir);
      assert.ok(st.isDirectory);
      assert.equal(st.mode! & 0o777, 0o755 & ~Deno.umask());
    }
    assert.equal((await Deno.stat(existing)).mode! & 0o777, 0o700, "what existed is left alone");
    const c = deps.containers.get(container_id!);
    const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    assert.ok(spec.mounts.some((m: { source: string }) => m.source === hostPath));
  }));

Deno.test("createContainer() gives the image's own VOLUMEs as image_volumes says: mkdir, bind, ignore", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    (deps.fakeImages.image.config as Record<string, unknown>)["Volumes"] = {
      "/data/db": {},
      "/mounted/": {},
      "/etc": {},
    };
    const create = async (name: string, mode: "mkdir" | "bind" | "ignore") => {
      deps.config = { ...deps.config, image: { ...deps.config.image, imageVolumes: mode } };
      const { container_id } = await createContainer(
        deps,
        request(sandboxId, {
          metadata: { name, attempt: 0 },
          log_path: `${name}.log`,
          mounts: [{ container_path: "/mounted", host_path: deps.dir }],
          linux: {
            security_context: { run_as_user: { value: "1234" }, run_as_group: { value: "5678" } },
          },
        }),
      );
      const c = deps.containers.get(container_id!);
      const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
      const rootfs = join(deps.config.root, "containers", container_id!, "merged");
      return { id: container_id!, spec, rootfs };
    };
    const owner = async (path: string) => {
      const st = await Deno.stat(path);
      return [st.uid, st.gid, st.mode! & 0o777];
    };
    const made = await create("made", "mkdir");
    for (const dir of ["data", "data/db"]) {
      assert.deepEqual(await owner(join(made.rootfs, dir)), [1234, 5678, 0o755 & ~Deno.umask()]);
    }
    assert.equal(
      (await Deno.stat(join(made.rootfs, "etc"))).uid,
      Deno.uid(),
      "what was there stays",
    );
    assert.equal(await exists(join(made.rootfs, "mounted")), false, "a kubelet volume is there");

    const bound = await create("bound", "bind");
    const dir = join(deps.config.root, "containers", bound.id, "volumes", "1");
    const volumeMounts = bound.spec.mounts.filter((m: { source: string }) =>
      m.source.startsWith(join(deps.config.root, "containers", bound.id, "volumes"))
    );
    assert.deepEqual(volumeMounts.map((m: { destination: string }) => m.destination).sort(), [
      "/data/db",
      "/etc",
    ]);
    assert.deepEqual(await owner(dir), [1234, 5678, 0o755 & ~Deno.umask()]);
    assert.equal(await exists(join(bound.rootfs, "data")), false);

    const ignored = await create("ignored", "ignore");
    assert.equal(await exists(join(ignored.rootfs, "data")), false);
    assert.ok(!JSON.stringify(ignored.spec.mounts).includes("/volumes/"));
  }));

Deno.test("createContainer() without namespace options takes the pod's", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps, { pid: "CONTAINER" });
    const { container_id } = await createContainer(deps, request(sandboxId));
    const c = deps.containers.get(container_id!);
    const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    const pid = spec.linux.namespaces.find((n: { type: string }) => n.type === "pid");
    assert.deepEqual(pid, { type: "pid" }, "a new PID namespace, not the infra's");
    assert.deepEqual(spec.process.args, ["/bin/sh"]);
  }));

Deno.test("createContainer() rejects bad input with the right code and leaves nothing", async (t) => {
  await withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    const notReady = await addSandbox(deps, { name: "stopped", ready: false });
    const host = join(deps.dir, "host");
    await Deno.mkdir(host);
    deps.config = { ...deps.config, absentMountSourcesToReject: [join(host, "rejected/")] };
    await Deno.symlink(join(host, "nowhere"), join(host, "dangling"));
    const cases: [string, cri.CreateContainerRequest, string][] = [
      ["no such sandbox", request("f".repeat(64)), "NOT_FOUND"],
      ["sandbox not ready", request(notReady), "FAILED_PRECONDITION"],
      [
        "unknown image",
        request(sandboxId, { image: { image: "127.0.0.1:5000/nope:1" } }),
        "NOT_FOUND",
      ],
      ["no metadata", decode("CreateContainer", { pod_sandbox_id: sandboxId }), "INVALID_ARGUMENT"],
      [
        "missing mount source the node does not make",
        request(sandboxId, {
          mounts: [{ container_path: "/x", host_path: join(host, "rejected", ".") }],
        }),
        "INVALID_ARGUMENT",
      ],
      [
        "missing mount source under a dangling symlink",
        request(sandboxId, {
          mounts: [{ container_path: "/x", host_path: join(host, "dangling", "sub") }],
        }),
        "FAILED_PRECONDITION",
      ],
      [
        "relative mount destination",
        request(sandboxId, { mounts: [{ container_path: "x", host_path: deps.dir }] }),
        "INVALID_ARGUMENT",
      ],
      [
        "negative memory limit",
        request(sandboxId, { linux: { resources: { memory_limit_in_bytes: -1 } } }),
        "INVALID_ARGUMENT",
      ],
      [
        "oom_score_adj out of range",
        request(sandboxId, { linux: { resources: { oom_score_adj: -5000 } } }),
        "INVALID_ARGUMENT",
      ],
      [
        "bad cpuset",
        request(sandboxId, { linux: { resources: { cpuset_cpus: "0-x" } } }),
        "INVALID_ARGUMENT",
      ],
      ["log path escaping", request(sandboxId, { log_path: "../../etc/x" }), "INVALID_ARGUMENT"],
      [
        "unknown user",
        request(sandboxId, { linux: { security_context: { run_as_username: "nobody" } } }),
        "INVALID_ARGUMENT",
      ],
      [
        "image volume of an image not pulled",
        request(sandboxId, {
          mounts: [{ container_path: "/v", image: { image: "127.0.0.1:5000/nope:1" } }],
        }),
        "NOT_FOUND",
      ],
      [
        "image volume with a host path too",
        request(sandboxId, {
          mounts: [{ container_path: "/v", host_path: deps.dir, image: { image: IMAGE } }],
        }),
        "INVALID_ARGUMENT",
      ],
      [
        "image volume sub path that climbs",
        request(sandboxId, {
          mounts: [{ container_path: "/v", image: { image: IMAGE }, image_sub_path: "../x" }],
        }),
        "INVALID_ARGUMENT",
      ],
      [
        // Found missing once the volume is mounted: the volume is taken away again.
        "image volume sub path not in the image",
        request(sandboxId, {
          mounts: [{ container_path: "/v", image: { image: IMAGE }, image_sub_path: "nope" }],
        }),
        "INVALID_ARGUMENT",
      ],
      [
        "CDI device name not qualified",
        request(sandboxId, { CDI_devices: [{ name: "gpu0" }] }),
        "INVALID_ARGUMENT",
      ],
      [
        "CDI device no spec file defines",
        request(sandboxId, { annotations: { "cdi.k8s.io/gpu": "ocid.test/gpu=0" } }),
        "NOT_FOUND",
      ],
      [
        "sub path without an image",
        request(sandboxId, {
          mounts: [{ container_path: "/v", host_path: deps.dir, image_sub_path: "data" }],
        }),
        "INVALID_ARGUMENT",
      ],
    ];
    for (const [what, req, code] of cases) {
      await t.step(what, async () => {
        assert.equal(await codeOf(createContainer(deps, req)), code);
        assert.equal(deps.containers.size, 0);
        assert.deepEqual(await listDir(join(deps.config.root, "containers")), []);
        assert.deepEqual(deps.fakeImages.mounted.size, 0);
        assert.deepEqual(deps.fakeRuntime.calls, []);
        assert.equal(deps.locks.size, 0);
        assert.deepEqual(await listDir(host), ["dangling"], "no host path was made");
      });
    }
    await t.step(
      "a runtime failure undoes the rootfs, the host paths made and the name",
      async () => {
        deps.fakeRuntime.fail.create = new Error("runc create failed: exec: no such file");
        const made = request(sandboxId, {
          mounts: [{ container_path: "/x", host_path: join(host, "made", "deep") }],
        });
        assert.match(await codeOf(createContainer(deps, made)), /runc create failed/);
        delete deps.fakeRuntime.fail.create;
        assert.equal(deps.containers.size, 0);
        assert.deepEqual(await listDir(join(deps.config.root, "containers")), []);
        assert.equal(deps.fakeImages.mounted.size, 0);
        assert.deepEqual(await listDir(host), ["dangling"]);
        const ok = await createContainer(deps, request(sandboxId));
        assert.ok(ok.container_id);
      },
    );
    await t.step("a duplicate name is ALREADY_EXISTS and changes nothing", async () => {
      const before = await listDir(join(deps.config.root, "containers"));
      const calls = deps.fakeRuntime.calls.length;
      assert.equal(await codeOf(createContainer(deps, request(sandboxId))), "ALREADY_EXISTS");
      assert.deepEqual(await listDir(join(deps.config.root, "containers")), before);
      assert.equal(deps.fakeRuntime.calls.length, calls);
      assert.equal(deps.containers.size, 1);
    });
  });
});

Deno.test("startContainer() moves CREATED to RUNNING once; a failed start is StartError", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    const { container_id: id } = await createContainer(deps, request(sandboxId));
    await startContainer(deps, { container_id: id!.slice(0, 12) });
    const c = deps.containers.get(id!);
    assert.equal(c.status.state, "CONTAINER_RUNNING");
    assert.notEqual(c.status.startedAt, "0");
    assert.equal(
      await codeOf(startContainer(deps, { container_id: id! })),
      "FAILED_PRECONDITION",
    );

    const { container_id: other } = await createContainer(
      deps,
      request(sandboxId, { metadata: { name: "other", attempt: 0 } }),
    );
    deps.fakeRuntime.fail.start = new Error("runc start: boom");
    assert.notEqual(await codeOf(startContainer(deps, { container_id: other! })), "OK");
    const failed = deps.containers.get(other!);
    assert.equal(failed.status.state, "CONTAINER_EXITED");
    assert.equal(failed.status.reason, "StartError");
    assert.match(failed.status.message, /boom/);
  }));

Deno.test("startContainer() keeps an exit that arrived before the RUNNING update", () =>
  withDeps(async (deps) => {
    const sandboxId = await addSandbox(deps);
    const { container_id: id } = await createContainer(deps, request(sandboxId));
    // The exit event lands while runc start is still answering.
    deps.fakeRuntime.start = (cid: string) => {
      deps.exits.deliver(cid, { exitCode: 3, finishedAt: new Date() });
      return Promise.resolve();
    };
    deps.exits.onExit(() => {}); // no store listener: startContainer must apply it itself
    await startContainer(deps, { container_id: id! });
    const c = deps.containers.get(id!);
    assert.equal(c.status.state, "CONTAINER_EXITED");
    assert.equal(c.status.exitCode, 3);
    assert.equal(c.status.reason, "Error");
    assert.notEqual(c.status.startedAt, "0");
  }));

Deno.test("createContainer() drops kubelet's hugepage limits the host's cgroups cannot take", () =>
  withDeps(async (deps) => {
    // A hybrid host like ours: v1 hierarchies without hugetlb, two hugepage pools.
    deps.cgroupSupport = {
      mode: "v1",
      controllers: ["cpu", "cpuacct", "cpuset", "memory", "pids"],
      hugePageSizes: [],
      cpuRealtime: true,
      memorySwap: true,
    };
    const sandboxId = await addSandbox(deps);
    const res = await createContainer(
      deps,
      request(sandboxId, {
        args: ["sleep", "1"],
        linux: {
          resources: {
            cpu_period: 100000,
            cpu_shares: 2,
            oom_score_adj: 1000,
            hugepage_limits: [{ page_size: "2MB", limit: 0 }, { page_size: "1GB", limit: 0 }],
          },
        },
      }),
    );
    const c = deps.containers.get(res.container_id!);
    const spec = JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    assert.equal(spec.linux.resources.hugepageLimits, undefined);
    assert.deepEqual(spec.linux.resources.cpu, { shares: 2, period: 100000 });
  }));

Deno.test("createContainer() applies the pod's runtime handler: its allowed annotations and privileged_without_host_devices", () =>
  withDeps(async (deps) => {
    deps.config.runtimes = {
      kata: {
        runtimePath: "/usr/sbin/runc",
        runtimeRoot: join(deps.dir, "kata"),
        runtimeType: "oci",
        monitorPath: "/usr/bin/conmon",
        allowedAnnotations: ["run.oci."],
        privilegedWithoutHostDevices: true,
      },
    };
    const annotations = { "run.oci.keep_original_groups": "1", team: "a" };
    const privileged = { security_context: { privileged: true } };
    const specOf = async (sandboxId: string) => {
      const res = await createContainer(
        deps,
        request(sandboxId, { annotations, linux: privileged }),
      );
      const c = deps.containers.get(res.container_id!);
      return JSON.parse(await Deno.readTextFile(join(c.metadata.bundle, "config.json")));
    };

    const onKata = await specOf(
      await addSandbox(deps, { name: "k", privileged: true, runtimeHandler: "kata" }),
    );
    assert.equal(onKata.annotations["run.oci.keep_original_groups"], "1");
    assert.equal(onKata.annotations.team, "a");
    assert.equal(onKata.linux.devices, undefined, "no host devices for this handler");

    const onDefault = await specOf(await addSandbox(deps, { name: "d", privileged: true }));
    assert.equal(onDefault.annotations["run.oci.keep_original_groups"], undefined);
    assert.equal(onDefault.annotations.team, "a");
    assert.ok(
      (onDefault.linux.devices ?? []).some((d: { path: string }) => d.path === "/dev/null"),
      "the default handler hands a privileged container the host's devices",
    );
  }));
