/**
 * The CRI conformance suite's specs (cri-tools `critest` v1.26, `pkg/validate`, and the later
 * suites' SupplementalGroupsPolicy and "Container Mount Readonly" specs), reproduced one by one
 * against the real daemon in its default configuration (`drop_infra_ctr = true`),
 * with the suite's own pod and container configs and its own checks (the command it runs, the
 * output it expects). Each spec runs in two pod shapes:
 *
 * - `critest`: the pod config critest sends. It sets no namespace options unless the spec is
 *   about them, so `pid` is POD (the proto's default) and the pod keeps its infra container.
 * - `kubelet`: the same with `pid` CONTAINER, as kubelet sends for every pod that does not share
 *   its process namespace: the pod gets no infra container, its IPC and UTS namespaces are
 *   pinned as files (the path most pods take in a cluster).
 *
 * Images: critest's busybox (every applet a hard link to one binary, `nobody` in
 * /etc/passwd), built here from the host's busybox-static. Deviations from critest, each forced
 * by this machine: Debian's busybox has no `ipcs` applet, so the host-IPC specs read
 * `/proc/sysvipc/shm` (what `ipcs -m` prints); its `sh` runs applets without exec
 * (FEATURE_SH_STANDALONE), so the MaskedPaths spec runs `/bin/ls` by path; nginx and httpd
 * images are busybox's `httpd`; the nonewprivs image is a Go program (`test/go-nonewprivs`)
 * installed setuid root. Not here: "execSync with timeout" (ExecSync's own tests), Version and
 * Status (conformance_test.ts), and the AppArmor and SELinux specs, which critest registers only
 * on hosts that have them (this kernel has neither).
 * Root only. Network: bridge "ocidt42", 10.234.42.0/24; traffic only to the test's pods and
 * 127.0.0.1.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import { call } from "../../src/cri/proto.ts";
import type * as cri from "../../src/cri/types.ts";
import { sh, waitFor } from "../helpers/checks.ts";
import { buildGoProgram } from "../helpers/go_build.ts";
import { buildGoStream, goStream } from "../helpers/go_stream.ts";
import { startDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/free_port.ts";
import {
  buildImage,
  buildLayer,
  busyboxEntries,
  imageBlobs,
  type LayerEntry,
  skopeoPush,
  type TestImage,
  writeOciLayout,
} from "../helpers/images.ts";
import { startRegistry } from "../helpers/registry.ts";
import { removeCgroupParent } from "../helpers/test_pod.ts";
import { assertNodeClean } from "./_node_state.ts";

const BRIDGE = "ocidt42";
const SUBNET = "10.234.42.0/24";
const CGROUP_PARENT = "/ocid-it42";
const NAMESPACE = "it42";
const WAIT = { timeoutMs: 60_000, intervalMs: 100 };

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** The two pod shapes every spec runs in; see the module doc. */
type Shape = "critest" | "kubelet";
const SHAPES: readonly Shape[] = ["critest", "kubelet"];

/** critest's busybox: one binary, every applet a hard link to it, root and nobody. */
async function critestBusyboxEntries(): Promise<LayerEntry[]> {
  const bin = await Deno.readFile("/bin/busybox");
  const applets = (await sh("/bin/busybox", "--list")).split("\n").filter((a) =>
    a !== "" && a !== "busybox"
  );
  const entries: LayerEntry[] = [
    { name: "bin/", type: "directory" },
    { name: "bin/busybox", content: bin, mode: 0o755 },
    ...applets.map((a): LayerEntry => ({
      name: `bin/${a}`,
      type: "link",
      linkname: "bin/busybox",
    })),
    { name: "etc/", type: "directory" },
    {
      name: "etc/passwd",
      content: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    },
    { name: "etc/group", content: "root:x:0:\nnobody:x:65534:\n" },
    { name: "root/", type: "directory", mode: 0o700 },
    { name: "home/", type: "directory" },
    { name: "tmp/", type: "directory", mode: 0o1777 },
    { name: "var/", type: "directory" },
    { name: "var/run/", type: "directory" },
  ];
  return entries;
}

/** critest's nonewprivs image: a program installed setuid root that prints its euid. */
async function nonewprivsEntries(): Promise<LayerEntry[]> {
  const bin = await buildGoProgram(fileURLToPath(new URL("../go-nonewprivs/", import.meta.url)), {
    name: "go-nonewprivs",
    what: "nonewprivs test program",
    hint: "install the Debian package golang-go",
  });
  return [
    { name: "usr/", type: "directory" },
    { name: "usr/local/", type: "directory" },
    { name: "usr/local/bin/", type: "directory" },
    { name: "usr/local/bin/nnp", content: await Deno.readFile(bin), mode: 0o4755 },
  ];
}

async function pushCritestBusybox(host: string): Promise<string> {
  const ref = `${host}/${NAMESPACE}/busybox:1.28`;
  const dir = await Deno.makeTempDir({ prefix: "ocid-it42-layout-" });
  try {
    const image = buildImage([
      await buildLayer(await critestBusyboxEntries()),
      await buildLayer(await nonewprivsEntries()),
    ], { cmd: ["sh"] });
    await writeOciLayout(dir, { top: image.manifest, blobs: imageBlobs(image), tag: "1" });
    await skopeoPush(dir, { tag: "1", dest: ref });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return ref;
}

/** What a spec works with. */
interface Ctx {
  rt: grpc.Client;
  image: string;
  shape: Shape;
  logRoot: string;
}

/** A pod a spec ran: its id and config (CreateContainer needs both) and its log dir. */
interface Pod {
  id: string;
  config: cri.PodSandboxConfigInit;
  logDir: string;
}

let podSeq = 0;

/**
 * Runs a pod as critest builds it (`framework.RunPodSandbox`): metadata, cgroup parent,
 * critest's labels, and what the spec adds; in the kubelet shape `pid` is CONTAINER unless the
 * spec sets it.
 */
async function runPod(
  ctx: Ctx,
  extra: Partial<cri.PodSandboxConfigInit> = {},
  linux: Partial<cri.LinuxPodSandboxConfigInit> = {},
): Promise<Pod> {
  const name = `pod-${++podSeq}-${ctx.shape}`;
  const logDir = join(ctx.logRoot, name);
  await Deno.mkdir(logDir, { recursive: true });
  const sc = { ...linux.security_context };
  if (ctx.shape === "kubelet") {
    sc.namespace_options = { pid: "CONTAINER", ...sc.namespace_options };
  }
  const config: cri.PodSandboxConfigInit = {
    metadata: { name, namespace: NAMESPACE, uid: `uid-${name}`, attempt: 0 },
    labels: { "critest-label": "it42" },
    log_directory: logDir,
    ...extra,
    linux: { cgroup_parent: CGROUP_PARENT, ...linux, security_context: sc },
  };
  const res = await call(ctx.rt, "RunPodSandbox", { config }, { deadlineMs: 60_000 });
  const id = res.pod_sandbox_id;
  const st = await call(ctx.rt, "PodSandboxStatus", { pod_sandbox_id: id, verbose: true });
  const pid = sc.namespace_options?.pid ?? "POD";
  const info = JSON.parse(st.info.info!);
  assert.equal(info.holder, pid === "POD" ? "infra" : "pinned");
  // `crictl inspectp | jq '.info.runtimeSpec.linux.namespaces[] | select(.type=="network")'`,
  // the way operators find a pod's netns under CRI-O and containerd, works for both holders.
  const netns = (info.runtimeSpec?.linux?.namespaces ?? []).find((n: { type: string }) =>
    n.type === "network"
  );
  if (sc.namespace_options?.network === "NODE") assert.equal(netns?.path, undefined);
  else assert.equal(netns?.path, info.netnsPath, "runtimeSpec names the pod's netns");
  return { id, config, logDir };
}

async function removePod(ctx: Ctx, pod: Pod): Promise<void> {
  await call(ctx.rt, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
  await call(ctx.rt, "RemovePodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
}

/** Runs `fn` with a pod and removes the pod afterwards (critest's AfterEach). */
async function withPod(
  ctx: Ctx,
  options: { extra?: Partial<cri.PodSandboxConfigInit>; linux?: cri.LinuxPodSandboxConfigInit },
  fn: (pod: Pod) => Promise<void>,
): Promise<void> {
  const pod = await runPod(ctx, options.extra, options.linux);
  try {
    await fn(pod);
  } finally {
    await removePod(ctx, pod);
  }
}

let ctrSeq = 0;

/** critest's `pauseCmd`. */
const PAUSE_CMD = ["sh", "-c", "top"];

/** CreateContainer as critest's `framework.CreateContainer` (log path `<name>.log`). */
function createContainer(
  ctx: Ctx,
  pod: Pod,
  config: Partial<cri.ContainerConfigInit>,
): Promise<{ id: string; name: string; logPath: string }> {
  const name = `ctr-${++ctrSeq}`;
  const logPath = `${name}.log`;
  return call(ctx.rt, "CreateContainer", {
    pod_sandbox_id: pod.id,
    sandbox_config: pod.config,
    config: {
      metadata: { name, attempt: 0 },
      image: { image: ctx.image },
      log_path: logPath,
      ...config,
    },
  }, { deadlineMs: 60_000 }).then((r) => ({ id: r.container_id, name, logPath }));
}

async function waitState(ctx: Ctx, id: string, state: string): Promise<cri.ContainerStatus> {
  return await waitFor(`container ${id} ${state}`, async () => {
    const st = (await call(ctx.rt, "ContainerStatus", { container_id: id })).status!;
    return st.state === state ? st : undefined;
  }, WAIT);
}

/** Creates, starts and waits for RUNNING (or `until`). */
async function runContainer(
  ctx: Ctx,
  pod: Pod,
  config: Partial<cri.ContainerConfigInit>,
  until = "CONTAINER_RUNNING",
): Promise<{ id: string; name: string; logPath: string }> {
  const c = await createContainer(ctx, pod, { command: PAUSE_CMD, ...config });
  await call(ctx.rt, "StartContainer", { container_id: c.id }, { deadlineMs: 60_000 });
  await waitState(ctx, c.id, until);
  return c;
}

async function execSync(ctx: Ctx, id: string, cmd: string[]) {
  const res = await call(ctx.rt, "ExecSync", { container_id: id, cmd, timeout: 60 }, {
    deadlineMs: 90_000,
  });
  return { stdout: text(res.stdout), stderr: text(res.stderr), code: res.exit_code };
}

/** critest's `execSyncContainer`: the command must exit 0; its stdout. */
async function execOk(ctx: Ctx, id: string, cmd: string[]): Promise<string> {
  const r = await execSync(ctx, id, cmd);
  assert.equal(r.code, 0, `${cmd.join(" ")}: exit ${r.code}, ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The container log's lines of one stream, as critest's `parseLogLine` reads them. */
async function logLines(pod: Pod, logPath: string, stream: "stdout" | "stderr") {
  const content = await Deno.readTextFile(join(pod.logDir, logPath)).catch(() => "");
  const out: string[] = [];
  for (const line of content.split("\n")) {
    const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/.exec(line);
    if (m && m[2] === stream) out.push(`${m[4]}\n`);
  }
  return out;
}

/** critest's `verifyLogContents`: some line of the stream equals `expected`. */
async function verifyLog(pod: Pod, logPath: string, expected: string, stream = "stdout") {
  await waitFor(`${JSON.stringify(expected)} in ${logPath}`, async () => {
    const lines = await logLines(pod, logPath, stream as "stdout" | "stderr");
    return lines.includes(expected) ? true : undefined;
  }, { timeoutMs: 10_000 });
}

/** Registers one step per shape for a spec. */
async function spec(
  t: Deno.TestContext,
  base: Omit<Ctx, "shape">,
  name: string,
  fn: (ctx: Ctx) => Promise<void>,
  shapes: readonly Shape[] = SHAPES,
): Promise<void> {
  for (const shape of shapes) {
    await t.step(`${name} [${shape}]`, () => fn({ ...base, shape }));
  }
}

Deno.test({
  name: "critest v1.26 specs, in critest's pod shape and kubelet's (no infra container)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await using registry = await startRegistry();
    const scratch = await Deno.makeTempDir({ prefix: "ocid-it42-" });
    let daemon: TestDaemon | undefined;
    try {
      const image = await pushCritestBusybox(registry.host);
      daemon = await startDaemon({ bridge: BRIDGE, subnet: SUBNET });
      const rt = daemon.clients.runtime;
      await call(daemon.clients.image, "PullImage", { image: { image } }, {
        deadlineMs: 60_000,
      });
      const base = { rt, image, logRoot: join(scratch, "logs") };
      await t.step("verbose ImageStatus holds the image's config as imageSpec", async () => {
        // `crictl inspecti | jq .info.imageSpec.config.Cmd`, as under CRI-O and containerd.
        const st = await call(daemon!.clients.image, "ImageStatus", {
          image: { image },
          verbose: true,
        });
        assert.deepEqual(JSON.parse(st.info.info!).imageSpec.config.Cmd, ["sh"]);
      });
      await imageSpecs(t, daemon.clients.image, registry.host, scratch);
      await imageIdSpecs(t, base, daemon.clients.image, registry.host, scratch);
      await securityContextSpecs(t, base, scratch);
      await supplementalGroupsPolicySpecs(t, base, daemon.clients.image, registry.host);
      await podSpecs(t, base);
      await metricsSpecs(t, base);
      await networkingSpecs(t, base);
      await containerSpecs(t, base, scratch);
      await readonlyMountSpecs(t, base, scratch);
      await streamingSpecs(t, base);
      await t.step(
        "every spec's pod is gone: no netns, pin, mount, IP or process left",
        async () => {
          assert.deepEqual((await call(rt, "ListPodSandbox", {})).items, []);
          await assertNodeClean(daemon!.dirs, daemon!.pid, "after the specs");
        },
      );
    } finally {
      await daemon?.cleanup();
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
      await removeCgroupParent(CGROUP_PARENT);
    }
  },
});

/** Security Context: NamespaceOption, bucket, seccomp (security_context_linux.go). */
async function securityContextSpecs(
  t: Deno.TestContext,
  base: Omit<Ctx, "shape">,
  scratch: string,
): Promise<void> {
  await namespaceOptionSpecs(t, base);
  await bucketSpecs(t, base);
  await seccompSpecs(t, base, scratch);
  await noNewPrivsSpecs(t, base);
}

/**
 * critest's image `test-image-predefined-group`: busybox whose default user (uid 1000, group
 * 1000) is also a member of group 50000 in the image's /etc/group.
 */
async function pushPredefinedGroupImage(host: string): Promise<string> {
  const ref = `${host}/${NAMESPACE}/test-image-predefined-group:e2e`;
  const dir = await Deno.makeTempDir({ prefix: "ocid-it42-layout-" });
  try {
    const accounts: LayerEntry[] = [
      { name: "etc/", type: "directory" },
      {
        name: "etc/passwd",
        content: "root:x:0:0:root:/root:/bin/sh\n" +
          "default-user:x:1000:1000::/home/default-user:/bin/sh\n",
      },
      {
        name: "etc/group",
        content: "root:x:0:\ndefault-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n",
      },
    ];
    const image = buildImage([
      await buildLayer(await critestBusyboxEntries()),
      await buildLayer(accounts),
    ], { cmd: ["sh"], user: "1000" });
    await writeOciLayout(dir, { top: image.manifest, blobs: imageBlobs(image), tag: "1" });
    await skopeoPush(dir, { tag: "1", dest: ref });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return ref;
}

/**
 * SupplementalGroupsPolicy (security_context_linux.go, critest v1.31 and later): critest runs
 * these only when Status says the runtime has the feature, and the kubelet (1.33 and later)
 * refuses pods asking for `Strict` on a node whose runtime does not say so. The container's
 * primary group is one of its supplementary groups (containerd's and CRI-O's
 * `AdditionalGids` start with it), both for its first process and for exec'd ones, and
 * ContainerStatus reports the same groups.
 */
async function supplementalGroupsPolicySpecs(
  t: Deno.TestContext,
  base: Omit<Ctx, "shape">,
  images: grpc.Client,
  host: string,
) {
  const image = await pushPredefinedGroupImage(host);
  await call(images, "PullImage", { image: { image } }, { deadlineMs: 60_000 });
  await t.step("Status: the runtime supports SupplementalGroupsPolicy", async () => {
    const st = await call(base.rt, "Status", { verbose: false });
    assert.equal(st.features?.supplemental_groups_policy, true);
  });
  const policy = (ctx: Ctx, strict: boolean, expected: number[]) =>
    withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {
        image: { image },
        command: ["sh", "-c", "id -G; sleep infinity"],
        linux: {
          security_context: {
            run_as_user: { value: "1000" },
            supplemental_groups: ["1234"],
            supplemental_groups_policy: strict ? "Strict" : "Merge",
          },
        },
      });
      const st = (await call(ctx.rt, "ContainerStatus", { container_id: c.id })).status!;
      const linux = st.user?.linux;
      assert.deepEqual(
        {
          uid: linux?.uid,
          gid: linux?.gid,
          groups: linux?.supplemental_groups.map(Number).sort((a, b) => a - b),
        },
        { uid: "1000", gid: "1000", groups: expected },
      );
      const line = `${expected.join(" ")}\n`;
      await verifyLog(pod, c.logPath, line);
      assert.equal(await execOk(ctx, c.id, ["id", "-G"]), line);
      const status = await execOk(ctx, c.id, ["cat", "/proc/self/status"]);
      assert.match(status, new RegExp(`^Groups:\\s+${expected.join(" ")}\\s*$`, "m"));
    });
  await spec(
    t,
    base,
    "SupplementalGroupsPolicy=Merge: the groups of the image's /etc/group are added",
    (ctx) => policy(ctx, false, [1000, 1234, 50000]),
  );
  await spec(
    t,
    base,
    "SupplementalGroupsPolicy=Strict: the groups of the image's /etc/group are not added",
    (ctx) => policy(ctx, true, [1000, 1234]),
  );
}

/** NoNewPrivs: the setuid program run as uid 1000 gains root only without no_new_privs. */
async function noNewPrivsSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">) {
  const nnp = (ctx: Ctx, noNewPrivs: boolean, expected: string) =>
    withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {
        command: ["/usr/local/bin/nnp"],
        linux: {
          security_context: { no_new_privs: noNewPrivs, run_as_user: { value: "1000" } },
        },
      }, "CONTAINER_EXITED");
      await verifyLog(pod, c.logPath, expected);
    });
  await spec(
    t,
    base,
    "should not allow privilege escalation when true",
    (ctx) => nnp(ctx, true, "Effective uid: 1000\n"),
  );
  await spec(
    t,
    base,
    "should allow privilege escalation when false",
    (ctx) => nnp(ctx, false, "Effective uid: 0\n"),
  );
}

async function namespaceOptionSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">) {
  await spec(t, base, "runtime should support HostPID", async (ctx) => {
    const ns: cri.NamespaceOptionInit = { pid: "NODE", ipc: "POD", network: "POD" };
    const linux = { security_context: { namespace_options: ns } };
    await withPod(ctx, { linux }, async (pod) => {
      const sc = { linux: { security_context: { namespace_options: ns } } };
      // nginx in critest: a process whose host pid the container knows
      const server = await runContainer(ctx, pod, {
        ...sc,
        command: ["sh", "-c", "echo $$ > /var/run/server.pid; exec sleep 1001"],
      });
      const pid = (await waitFor("server.pid", async () => {
        const out = await execOk(ctx, server.id, ["cat", "/var/run/server.pid"]);
        return out.trim() || undefined;
      })).trim();
      const other = await runContainer(ctx, pod, { ...sc, command: ["sh", "-c", "sleep 1000"] });
      const pids = (await execOk(ctx, other.id, ["pidof", "sleep"])).trim();
      assert.ok(pids.split(" ").includes(pid), `${pid} in ${pids}`);
    });
  }, ["critest"]);

  const hostIpc = async (ctx: Ctx, mode: "NODE" | "POD") => {
    const out = await sh("ipcmk", "-M", "1048576");
    const segment = out.trim().replace(/^Shared memory id: /, "");
    try {
      const ns: cri.NamespaceOptionInit = {
        pid: ctx.shape === "critest" ? "POD" : "CONTAINER",
        ipc: mode,
        network: "POD",
      };
      const linux = { security_context: { namespace_options: ns } };
      await withPod(ctx, { linux }, async (pod) => {
        const c = await runContainer(ctx, pod, {
          linux: { security_context: { namespace_options: ns } },
        });
        // `ipcs -m` prints the shmid column of this file
        const shm = await execOk(ctx, c.id, ["cat", "/proc/sysvipc/shm"]);
        const ids = shm.split("\n").slice(1).map((l) => l.trim().split(/\s+/)[1]);
        if (mode === "NODE") assert.ok(ids.includes(segment), `${segment} in ${shm}`);
        else assert.ok(!ids.includes(segment), `${segment} not in ${shm}`);
      });
    } finally {
      await sh("ipcrm", "-m", segment);
    }
  };
  await spec(t, base, "runtime should support HostIpc is true", (ctx) => hostIpc(ctx, "NODE"));
  await spec(t, base, "runtime should support HostIpc is false", (ctx) => hostIpc(ctx, "POD"));

  await spec(t, base, "runtime should support PodPID", async (ctx) => {
    const ns: cri.NamespaceOptionInit = { pid: "POD" };
    await withPod(ctx, { linux: { security_context: { namespace_options: ns } } }, async (pod) => {
      const c = await runContainer(ctx, pod, {
        command: ["sleep", "1002"],
        linux: { security_context: { namespace_options: ns } },
      });
      const cmdline = await execOk(ctx, c.id, ["cat", "/proc/1/cmdline"]);
      assert.ok(!cmdline.includes("1002"), `pid 1 is the pod's, not the container's: ${cmdline}`);
    });
  }, ["critest"]);

  await spec(t, base, "runtime should support ContainerPID", async (ctx) => {
    const ns: cri.NamespaceOptionInit = { pid: "CONTAINER" };
    await withPod(ctx, { linux: { security_context: { namespace_options: ns } } }, async (pod) => {
      const c = await runContainer(ctx, pod, {
        command: ["sleep", "1003"],
        linux: { security_context: { namespace_options: ns } },
      });
      const cmdline = await execOk(ctx, c.id, ["cat", "/proc/1/cmdline"]);
      assert.ok(cmdline.includes("1003"), `pid 1 is the container's: ${cmdline}`);
    });
  }, ["critest"]);

  const hostNetwork = async (ctx: Ctx, host: boolean) => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const ns: cri.NamespaceOptionInit = {
      pid: ctx.shape === "critest" ? "POD" : "CONTAINER",
      ipc: "POD",
      network: host ? "NODE" : "POD",
    };
    await withPod(ctx, { linux: { security_context: { namespace_options: ns } } }, async (pod) => {
      const c = await runContainer(ctx, pod, {
        command: ["sh", "-c", "netstat -ln"],
        linux: { security_context: { namespace_options: ns } },
      }, "CONTAINER_EXITED");
      const lines = await logLines(pod, c.logPath, "stdout");
      assert.ok(lines.length > 0, "netstat printed");
      const seen = lines.some((l) => l.includes(`:${port} `));
      assert.equal(seen, host, `:${port} in ${lines.join("")}`);
    });
  };
  await spec(t, base, "runtime should support HostNetwork is true", (c) => hostNetwork(c, true));
  await spec(t, base, "runtime should support HostNetwork is false", (c) => hostNetwork(c, false));
}

async function bucketSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">) {
  const sc = (s: cri.LinuxContainerSecurityContextInit) => ({ linux: { security_context: s } });

  await spec(t, base, "runtime should support SupplementalGroups", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, sc({ supplemental_groups: ["1234", "5678"] }));
      const groups = (await execOk(ctx, c.id, ["id", "-G"])).trim().split(" ");
      assert.ok(groups.includes("1234") && groups.includes("5678"), groups.join(" "));
    });
  });

  await spec(t, base, "runtime should support RunAsUser", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, sc({ run_as_user: { value: "1001" } }));
      assert.equal(await execOk(ctx, c.id, ["id", "-u"]), "1001\n");
    });
  });

  await spec(t, base, "runtime should support RunAsUserName", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, sc({ run_as_username: "nobody" }));
      assert.equal(await execOk(ctx, c.id, ["id", "-nu"]), "nobody\n");
    });
  });

  await spec(t, base, "runtime should support RunAsGroup", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {
        command: ["sh", "-c", "echo $(id -u):$(id -g)"],
        ...sc({ run_as_user: { value: "1001" }, run_as_group: { value: "1002" } }),
      }, "CONTAINER_EXITED");
      await verifyLog(pod, c.logPath, "1001:1002\n");
    });
  });

  await spec(
    t,
    base,
    "runtime should return error if RunAsGroup is set without RunAsUser",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        await assert.rejects(createContainer(ctx, pod, {
          command: ["sh", "-c", "echo $(id -u):$(id -g)"],
          ...sc({ run_as_group: { value: "1002" } }),
        }));
      }),
  );

  const readOnlyRootfs = async (ctx: Ctx, readonly: boolean) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {
        command: ["sh", "-c", "touch test.go && [ -f test.go ] && echo 'Found'"],
        ...sc({ readonly_rootfs: readonly }),
      }, "CONTAINER_EXITED");
      if (readonly) {
        await verifyLog(pod, c.logPath, "touch: test.go: Read-only file system\n", "stderr");
      } else await verifyLog(pod, c.logPath, "Found\n");
    });
  };
  await spec(
    t,
    base,
    "runtime should support that ReadOnlyRootfs is false",
    (ctx) => readOnlyRootfs(ctx, false),
  );
  await spec(
    t,
    base,
    "runtime should support that ReadOnlyRootfs is true",
    (ctx) => readOnlyRootfs(ctx, true),
  );

  /** critest's `checkNetworkManagement`: `brctl addbr foobar` works or fails. */
  const checkNetworkManagement = async (ctx: Ctx, id: string, manageable: boolean) => {
    const r = await execSync(ctx, id, ["brctl", "addbr", "foobar"]);
    assert.equal(r.code === 0, manageable, `brctl addbr foobar: ${r.code} ${r.stdout}${r.stderr}`);
  };
  const privileged = async (ctx: Ctx, privileged: boolean) => {
    await withPod(ctx, { linux: { security_context: { privileged } } }, async (pod) => {
      const c = await runContainer(ctx, pod, sc({ privileged }));
      await checkNetworkManagement(ctx, c.id, privileged);
      // `crictl inspect | jq .info.privileged`, as CRI-O's bats read it.
      const st = await call(ctx.rt, "ContainerStatus", { container_id: c.id, verbose: true });
      assert.equal(JSON.parse(st.info.info!).privileged, privileged);
    });
  };
  await spec(t, base, "runtime should support Privileged is true", (c) => privileged(c, true));
  await spec(t, base, "runtime should support Privileged is false", (c) => privileged(c, false));

  const capabilities = (add: string[], drop: string[]) =>
    sc({
      capabilities: {
        add_capabilities: add,
        drop_capabilities: drop,
        add_ambient_capabilities: [],
      },
    });
  await spec(t, base, "runtime should support adding capability", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, capabilities(["NET_ADMIN"], []));
      await checkNetworkManagement(ctx, c.id, true);
      const plain = await runContainer(ctx, pod, {});
      await checkNetworkManagement(ctx, plain.id, false);
    });
  });

  await spec(t, base, "runtime should support dropping capability", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, capabilities([], ["NET_RAW"]));
      const r = await execSync(ctx, c.id, ["ping", "127.0.0.1"]);
      assert.notEqual(r.code, 0);
      assert.notEqual(r.stdout, "", "ping printed its header");
      assert.match(r.stderr, /permission denied/);
    });
  });

  const capBnd = async (ctx: Ctx, add: string[], drop: string[]) => {
    let status = "";
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, capabilities(add, drop));
      const r = await execSync(ctx, c.id, ["cat", "/proc/self/status"]);
      assert.equal(r.code, 0);
      assert.equal(r.stderr, "");
      status = r.stdout;
    });
    return status;
  };
  await spec(t, base, "runtime should support adding ALL capabilities", async (ctx) => {
    assert.doesNotMatch(await capBnd(ctx, ["ALL"], []), /CapBnd:\s0000000000000000/);
  });
  await spec(t, base, "runtime should support dropping ALL capabilities", async (ctx) => {
    assert.match(await capBnd(ctx, [], ["ALL"]), /CapBnd:\s0000000000000000/);
  });

  await spec(t, base, "runtime should support MaskedPaths", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, sc({ masked_paths: ["/bin/ls"] }));
      // Debian's static busybox runs `ls` inside sh (FEATURE_SH_STANDALONE); a path is exec'd
      const r = await execSync(ctx, c.id, ["/bin/sh", "-c", "/bin/ls"]);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr, "/bin/sh: /bin/ls: Permission denied\n");
    });
  });

  await spec(t, base, "runtime should support ReadonlyPaths", async (ctx) => {
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, sc({ readonly_paths: ["/tmp"] }));
      const r = await execSync(ctx, c.id, ["touch", "/tmp/test"]);
      assert.notEqual(r.code, 0);
      assert.equal(r.stderr, "touch: /tmp/test: Read-only file system\n");
    });
  });
}

async function seccompSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">, scratch: string) {
  const profileDir = join(scratch, "seccomp-tests");
  await Deno.mkdir(profileDir);
  const blockHostname = join(profileDir, "block-host-name.json");
  await Deno.writeTextFile(
    blockHostname,
    JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["sethostname"], action: "SCMP_ACT_ERRNO" }],
    }),
  );
  const blockChmod = join(profileDir, "block-chmod.json");
  await Deno.writeTextFile(
    blockChmod,
    JSON.stringify({
      defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{ names: ["chmod", "fchmodat"], action: "SCMP_ACT_ERRNO" }],
    }),
  );

  /** critest's `seccompTestContainer`: the profile on the pod and on the container. */
  const seccompTest = async (
    ctx: Ctx,
    seccomp: cri.SecurityProfileInit | null,
    check: (id: string) => Promise<void>,
    path = "",
  ) => {
    const s = { ...(seccomp ? { seccomp } : {}), ...(path ? { seccomp_profile_path: path } : {}) };
    await withPod(ctx, { linux: { security_context: s } }, async (pod) => {
      const c = await runContainer(ctx, pod, { linux: { security_context: s } });
      await check(c.id);
    });
  };
  const seccompField = async (
    ctx: Ctx,
    id: string,
  ) => (await execOk(ctx, id, ["grep", "Seccomp:", "/proc/self/status"]));

  await spec(
    t,
    base,
    "should support seccomp unconfined on the container",
    (ctx) =>
      seccompTest(ctx, { profile_type: "Unconfined", localhost_ref: "" }, async (id) => {
        assert.match(await seccompField(ctx, id), /Seccomp:\s+0/);
      }),
  );
  await spec(
    t,
    base,
    "should support seccomp localhost profile on the container",
    (ctx) =>
      seccompTest(ctx, { profile_type: "Localhost", localhost_ref: blockChmod }, async (id) => {
        const r = await execSync(ctx, id, ["chmod", "400", "/"]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Operation not permitted/);
      }),
  );
  await spec(
    t,
    base,
    "should support seccomp default on the container",
    (ctx) =>
      seccompTest(ctx, { profile_type: "RuntimeDefault", localhost_ref: "" }, async (id) => {
        assert.match(await seccompField(ctx, id), /Seccomp:\s+2/);
      }),
  );
  await spec(
    t,
    base,
    "should support nil profile, which is unconfined",
    (ctx) =>
      seccompTest(ctx, null, async (id) => {
        assert.match(await seccompField(ctx, id), /Seccomp:\s+0/);
      }),
  );
  // the deprecated string field, as critest v1.26's SeccompProfilePath context sends it
  await spec(
    t,
    base,
    "should support seccomp localhost/profile path on the container",
    (ctx) =>
      seccompTest(ctx, null, async (id) => {
        const r = await execSync(ctx, id, ["chmod", "400", "/"]);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Operation not permitted/);
      }, `localhost/${blockChmod}`),
  );
  await spec(
    t,
    base,
    "should support seccomp docker/default path on the container",
    (ctx) =>
      seccompTest(ctx, null, async (id) => {
        assert.match(await seccompField(ctx, id), /Seccomp:\s+2/);
      }, "docker/default"),
  );
  await spec(
    t,
    base,
    "runtime should not support a custom seccomp profile without using localhost/ as a prefix",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        await assert.rejects(createContainer(ctx, pod, {
          command: ["sleep", "60"],
          linux: { security_context: { seccomp_profile_path: blockChmod } },
        }));
      }),
  );

  /** critest's `createSeccompContainer` + `checkSetHostname`. */
  const hostname = async (
    ctx: Ctx,
    options: { profile: cri.SecurityProfileInit; caps: string[]; privileged: boolean },
    settable: boolean,
  ) => {
    const linux = options.privileged ? { security_context: { privileged: true } } : {};
    await withPod(ctx, { linux }, async (pod) => {
      const c = await runContainer(ctx, pod, {
        image: { image: ctx.image, user_specified_image: ctx.image },
        command: ["sleep", "60"],
        linux: {
          security_context: {
            privileged: options.privileged,
            capabilities: {
              add_capabilities: options.caps,
              drop_capabilities: [],
              add_ambient_capabilities: [],
            },
            seccomp: options.profile,
          },
        },
      });
      const r = await execSync(ctx, c.id, ["hostname", "ANewHostName"]);
      assert.equal(r.code === 0, settable, `hostname: ${r.code} ${r.stdout}${r.stderr}`);
    });
  };
  await spec(
    t,
    base,
    "runtime should not block setting host name with unconfined seccomp and SYS_ADMIN",
    (ctx) =>
      hostname(ctx, {
        profile: { profile_type: "Unconfined", localhost_ref: "" },
        caps: ["SYS_ADMIN"],
        privileged: false,
      }, true),
  );
  await spec(
    t,
    base,
    "runtime should support an seccomp profile that blocks setting hostname with SYS_ADMIN",
    (ctx) =>
      hostname(ctx, {
        profile: { profile_type: "Localhost", localhost_ref: blockHostname },
        caps: ["SYS_ADMIN"],
        privileged: false,
      }, false),
  );
  await spec(
    t,
    base,
    "runtime should ignore a seccomp profile that blocks setting hostname when privileged",
    (ctx) =>
      hostname(ctx, {
        profile: { profile_type: "Localhost", localhost_ref: blockHostname },
        caps: [],
        privileged: true,
      }, true),
  );
}

/** PodSandbox (pod.go, pod_linux.go). */
async function podSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">) {
  const status = async (ctx: Ctx, id: string) =>
    (await call(ctx.rt, "PodSandboxStatus", { pod_sandbox_id: id })).status!;
  const listed = async (ctx: Ctx, id: string) =>
    (await call(ctx.rt, "ListPodSandbox", { filter: { id } })).items.map((p) => p.id);

  await spec(
    t,
    base,
    "runtime should support running PodSandbox",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        assert.equal((await status(ctx, pod.id)).state, "SANDBOX_READY");
        assert.deepEqual(await listed(ctx, pod.id), [pod.id]);
      }),
  );
  await spec(
    t,
    base,
    "runtime should support stopping PodSandbox",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        await call(ctx.rt, "StopPodSandbox", { pod_sandbox_id: pod.id }, { deadlineMs: 60_000 });
        assert.equal((await status(ctx, pod.id)).state, "SANDBOX_NOTREADY");
      }),
  );
  await spec(t, base, "runtime should support removing PodSandbox", async (ctx) => {
    const pod = await runPod(ctx);
    await removePod(ctx, pod);
    assert.deepEqual(await listed(ctx, pod.id), []);
  });

  // "runtime should enforce PodSandbox metadata uniqueness" (pod.go, critest for Kubernetes
  // 1.37): the kubelet derives a pod's attempt from what is listed and retries RunPodSandbox
  // with the same metadata, so two sandboxes must never share name, uid, namespace and attempt.
  const uniqueness = (
    ctx: Ctx,
    fn: (
      run: (uid: string, attempt: number) => Promise<string>,
      labelled: () => Promise<string[]>,
    ) => Promise<void>,
  ) => {
    const label = { "cri-tools-metadata-uniqueness-test": `u${++podSeq}` };
    const name = `uniq-${podSeq}-${ctx.shape}`;
    const run = async (uid: string, attempt: number) => {
      const sc = ctx.shape === "kubelet"
        ? { namespace_options: { pid: "CONTAINER" as const } }
        : {};
      const config: cri.PodSandboxConfigInit = {
        metadata: { name, namespace: NAMESPACE, uid, attempt },
        labels: label,
        linux: { cgroup_parent: CGROUP_PARENT, security_context: sc },
      };
      return (await call(ctx.rt, "RunPodSandbox", { config }, { deadlineMs: 60_000 }))
        .pod_sandbox_id;
    };
    const labelled = async () =>
      (await call(ctx.rt, "ListPodSandbox", { filter: { label_selector: label } })).items
        .map((p) => p.id).sort();
    return fn(run, labelled).finally(async () => {
      for (const id of await labelled()) await removePod(ctx, { id } as Pod);
    });
  };
  await spec(
    t,
    base,
    "runtime should not create a second PodSandbox with the same metadata",
    (ctx) =>
      uniqueness(ctx, async (run, labelled) => {
        const duplicate = async (first: string, why: string) => {
          const id = await run("uid-a", 0).catch(() => undefined);
          if (id !== undefined) assert.equal(id, first, why);
          assert.deepEqual(await labelled(), [first], why);
        };
        const first = await run("uid-a", 0);
        await duplicate(first, "metadata of a ready PodSandbox must not be reused");
        await call(ctx.rt, "StopPodSandbox", { pod_sandbox_id: first }, { deadlineMs: 60_000 });
        await duplicate(first, "metadata of a stopped PodSandbox must not be reused");
        const next = await run("uid-a", 1);
        assert.notEqual(next, first);
        assert.equal((await labelled()).length, 2);
        await call(ctx.rt, "RemovePodSandbox", { pod_sandbox_id: first }, { deadlineMs: 60_000 });
        const reused = await run("uid-a", 0);
        assert.notEqual(reused, first);
        assert.equal((await labelled()).length, 2);
      }),
  );
  await spec(
    t,
    base,
    "runtime should allow a PodSandbox with the same name and namespace but a new UID",
    (ctx) =>
      uniqueness(ctx, async (run, labelled) => {
        const first = await run("uid-a", 0);
        const second = await run("uid-b", 0);
        assert.notEqual(second, first);
        assert.equal((await labelled()).length, 2);
      }),
  );

  const sysctl = async (ctx: Ctx, key: string, value: string) => {
    const path = `/proc/sys/${key.replaceAll(".", "/")}`;
    const host = await Deno.readTextFile(path);
    await withPod(ctx, { linux: { sysctls: { [key]: value } } }, async (pod) => {
      const c = await runContainer(ctx, pod, {});
      assert.equal((await execOk(ctx, c.id, ["cat", path])).trim(), value);
    });
    assert.equal(await Deno.readTextFile(path), host, "the node's value is untouched");
  };
  await spec(
    t,
    base,
    "should support safe sysctls",
    (c) => sysctl(c, "kernel.shm_rmid_forced", "1"),
  );
  await spec(
    t,
    base,
    "should support unsafe sysctls",
    (c) => sysctl(c, "fs.mqueue.msg_max", "100"),
  );
}

/** A web server on `port` (critest's nginx and httpd images; busybox `httpd` here). */
function webServer(port: number): Partial<cri.ContainerConfigInit> {
  return {
    command: [
      "sh",
      "-c",
      `mkdir -p /www && echo hello > /www/index.html && echo httpd -D FOREGROUND && ` +
      `exec httpd -f -p ${port} -h /www`,
    ],
  };
}

/** critest's `checkMainPage`: GET / answers 200 (retrying for a minute). */
async function checkMainPage(url: string) {
  await waitFor(`200 from ${url}`, async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return res.status === 200 ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });
}

/** Networking (networking.go) and Multiple Containers (multi_container_linux.go). */
async function networkingSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">) {
  await spec(t, base, "runtime should support DNS config", (ctx) =>
    withPod(ctx, {
      extra: {
        dns_config: { servers: ["10.10.10.10"], searches: ["google.com"], options: ["ndots:8"] },
      },
    }, async (pod) => {
      const c = await runContainer(ctx, pod, {});
      const r = await execSync(ctx, c.id, ["cat", "/etc/resolv.conf"]);
      for (const want of ["nameserver 10.10.10.10", "search google.com", "options ndots:8"]) {
        assert.ok(r.stdout.includes(want), `${want} in ${r.stdout}`);
      }
      assert.equal(r.stderr, "");
    }));

  await spec(
    t,
    base,
    "runtime should support set hostname",
    (ctx) =>
      withPod(ctx, { extra: { hostname: "test-hostname" } }, async (pod) => {
        const c = await runContainer(ctx, pod, {});
        const r = await execSync(ctx, c.id, ["hostname"]);
        assert.equal(r.stdout.trim().toLowerCase(), "test-hostname");
        assert.equal(r.stderr, "");
      }),
  );

  await spec(
    t,
    base,
    "runtime should support port mapping with only container port",
    (ctx) =>
      withPod(ctx, {
        extra: { port_mappings: [{ protocol: "TCP", container_port: 12000, host_port: 0 }] },
      }, async (pod) => {
        await runContainer(ctx, pod, webServer(12000));
        const st = (await call(ctx.rt, "PodSandboxStatus", { pod_sandbox_id: pod.id })).status!;
        await checkMainPage(`http://${st.network!.ip}:12000/`);
      }),
  );

  await spec(
    t,
    base,
    "runtime should support port mapping with host port and container port",
    async (ctx) => {
      const hostPort = freePort();
      await withPod(ctx, {
        extra: { port_mappings: [{ protocol: "TCP", container_port: 12001, host_port: hostPort }] },
      }, async (pod) => {
        await runContainer(ctx, pod, webServer(12001));
        await checkMainPage(`http://127.0.0.1:${hostPort}/`);
      });
    },
  );

  const multi = (
    ctx: Ctx,
    check: (pod: Pod, httpd: string, busybox: string) => Promise<void>,
  ) =>
    withPod(ctx, {
      extra: { port_mappings: [{ protocol: "TCP", container_port: 80, host_port: 0 }] },
    }, async (pod) => {
      const httpd = await runContainer(ctx, pod, { ...webServer(80), linux: {} });
      const busybox = await runContainer(ctx, pod, {
        command: ["sh", "-c", "echo hello World; sleep 1000"],
      });
      await check(pod, httpd.id, busybox.id);
    });
  await spec(
    t,
    base,
    "Multiple Containers should support network",
    (ctx) =>
      multi(ctx, async (pod) => {
        const st = (await call(ctx.rt, "PodSandboxStatus", { pod_sandbox_id: pod.id })).status!;
        await checkMainPage(`http://${st.network!.ip}:80/`);
      }),
  );
  await spec(
    t,
    base,
    "Multiple Containers should support container log",
    (ctx) =>
      multi(ctx, async (_pod, httpd, busybox) => {
        for (const [id, want] of [[httpd, "httpd -D FOREGROUND"], [busybox, "hello World"]]) {
          const st = (await call(ctx.rt, "ContainerStatus", { container_id: id! })).status!;
          await waitFor(
            `${want} in ${st.log_path}`,
            async () => (await Deno.readTextFile(st.log_path)).includes(want!) ? true : undefined,
          );
        }
      }),
  );
  await spec(
    t,
    base,
    "Multiple Containers should support container exec",
    (ctx) =>
      multi(ctx, async (_pod, httpd, busybox) => {
        assert.equal(await execOk(ctx, httpd, ["echo", "httpd"]), "httpd\n");
        assert.equal(await execOk(ctx, busybox, ["echo", "busybox"]), "busybox\n");
      }),
  );
}

/** Container (container.go, container_linux.go). */
/**
 * critest's metric names (pod.go, for Kubernetes 1.37: what the kubelet's cAdvisor reports with
 * CRI-O), less the ones it lists as not implemented by every runtime yet (hugetlb, pressure,
 * cpu quota, memory reservation, ulimits).
 */
const CRITEST_METRICS = [
  "container_blkio_device_usage_total",
  "container_cpu_cfs_periods_total",
  "container_cpu_cfs_throttled_periods_total",
  "container_cpu_cfs_throttled_seconds_total",
  "container_cpu_system_seconds_total",
  "container_cpu_usage_seconds_total",
  "container_cpu_user_seconds_total",
  "container_file_descriptors",
  "container_fs_inodes_free",
  "container_fs_inodes_total",
  "container_fs_limit_bytes",
  "container_fs_reads_bytes_total",
  "container_fs_reads_total",
  "container_fs_usage_bytes",
  "container_fs_writes_bytes_total",
  "container_fs_writes_total",
  "container_last_seen",
  "container_memory_cache",
  "container_memory_failcnt",
  "container_memory_failures_total",
  "container_memory_kernel_usage",
  "container_memory_mapped_file",
  "container_memory_max_usage_bytes",
  "container_memory_rss",
  "container_memory_swap",
  "container_memory_usage_bytes",
  "container_memory_working_set_bytes",
  "container_network_receive_bytes_total",
  "container_network_receive_errors_total",
  "container_network_receive_packets_dropped_total",
  "container_network_receive_packets_total",
  "container_network_transmit_bytes_total",
  "container_network_transmit_errors_total",
  "container_network_transmit_packets_dropped_total",
  "container_network_transmit_packets_total",
  "container_oom_events_total",
  "container_processes",
  "container_sockets",
  "container_spec_cpu_period",
  "container_spec_cpu_shares",
  "container_spec_memory_limit_bytes",
  "container_spec_memory_swap_limit_bytes",
  "container_start_time_seconds",
  "container_threads",
  "container_threads_max",
];

/** Values critest does not require (block I/O accounting may be missing on a virtual disk). */
const CRITEST_OPTIONAL_VALUES = [
  "container_blkio_device_usage_total",
  "container_fs_reads_bytes_total",
  "container_fs_reads_total",
  "container_fs_writes_bytes_total",
  "container_fs_writes_total",
];

/**
 * PodSandbox "runtime should support metrics operations" (pod.go, critest for Kubernetes 1.37):
 * every metric critest names is described, with help and label keys, and a pod running a
 * container with CPU and memory limits reports a value of each, with as many label values as
 * its descriptor has keys.
 */
async function metricsSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">) {
  const descriptors = async (ctx: Ctx) => {
    const res = await call(ctx.rt, "ListMetricDescriptors", {});
    for (const d of res.descriptors) {
      assert.ok(d.help, `${d.name} has help`);
      assert.ok(d.label_keys.length > 0, `${d.name} has label keys`);
    }
    const names = new Set(res.descriptors.map((d) => d.name));
    assert.deepEqual(CRITEST_METRICS.filter((n) => !names.has(n)), [], "described");
    return res.descriptors;
  };
  await spec(t, base, "runtime should support returning metrics descriptors", async (ctx) => {
    await descriptors(ctx);
  });
  await spec(
    t,
    base,
    "runtime should support listing pod sandbox metrics",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const mib64 = String(64 * 1024 * 1024);
        const c = await runContainer(ctx, pod, {
          linux: {
            resources: {
              cpu_period: "100000",
              cpu_quota: "20000",
              cpu_shares: "1024",
              memory_limit_in_bytes: mib64,
              memory_swap_limit_in_bytes: mib64,
            },
          },
        });
        await execOk(ctx, c.id, [
          "/bin/sh",
          "-c",
          "mkdir -p /var/lib/mydisktest && for i in $(seq 1 10); do " +
          "echo hi >> /var/lib/mydisktest/inode_test_file_$i; done; sync",
        ]);
        const descs = await descriptors(ctx);
        const res = await call(ctx.rt, "ListPodSandboxMetrics", {});
        const mine = res.pod_metrics.find((p) => p.pod_sandbox_id === pod.id);
        assert.ok(mine, "the pod has metrics");
        const found = new Map<string, string[]>();
        for (const m of [...mine.metrics, ...mine.container_metrics.flatMap((c) => c.metrics)]) {
          if (!found.has(m.name)) found.set(m.name, m.label_values);
        }
        const missing = CRITEST_METRICS.filter((n) =>
          !found.has(n) && !CRITEST_OPTIONAL_VALUES.includes(n)
        );
        assert.deepEqual(missing, [], "a value of every metric");
        const mismatched = descs.filter((d) => {
          const values = found.get(d.name);
          if (!values) return !CRITEST_OPTIONAL_VALUES.includes(d.name);
          return values.length !== d.label_keys.length;
        }).map((d) => d.name);
        assert.deepEqual(mismatched, [], "label values match the descriptors' keys");
        // What the limits and the writes show.
        const value = (name: string) =>
          Number(
            mine.container_metrics.flatMap((c) => c.metrics).find((m) => m.name === name)?.value
              ?.value,
          );
        assert.equal(value("container_spec_cpu_period"), 100000);
        assert.equal(value("container_spec_cpu_shares"), 1024);
        // Two of the names critest still lists as not implemented by every runtime: ocid has them.
        assert.equal(value("container_spec_cpu_quota"), 20000);
        assert.equal(value("container_spec_memory_reservation_limit_bytes"), 0);
        assert.equal(value("container_spec_memory_limit_bytes"), 64 * 1024 * 1024);
        assert.ok(value("container_threads") >= 1, "the container's shell");
        assert.ok(value("container_file_descriptors") >= 3, "its stdio at least");
      }),
  );
}

/**
 * Container Mount Readonly (container_linux.go, critest v1.30 and later), in a privileged pod as
 * critest runs them: the host path holds a tmpfs, which only a recursively read-only mount makes
 * read-only too; a recursively read-only mount that is not read-only, or not private, is refused
 * (INVALID_ARGUMENT) and leaves no container.
 */
async function readonlyMountSpecs(
  t: Deno.TestContext,
  base: Omit<Ctx, "shape">,
  scratch: string,
) {
  const withHostPath = async (fn: (hostPath: string) => Promise<void>) => {
    const hostPath = await Deno.makeTempDir({ dir: scratch, prefix: "rro-" });
    await Deno.mkdir(join(hostPath, "tmpfs"), { mode: 0o700 });
    await sh("mount", "-t", "tmpfs", "none", join(hostPath, "tmpfs"));
    try {
      await fn(hostPath);
    } finally {
      await sh("umount", "-l", join(hostPath, "tmpfs"));
    }
  };
  const privileged = { linux: { security_context: { privileged: true } } };
  const mount = (
    hostPath: string,
    m: Partial<cri.MountInit> = {},
  ): cri.MountInit => ({
    host_path: hostPath,
    container_path: "/mnt",
    readonly: true,
    selinux_relabel: true,
    ...m,
  });
  const supports = (ctx: Ctx, rro: boolean) =>
    withPod(ctx, privileged, (pod) =>
      withHostPath(async (hostPath) => {
        const c = await runContainer(ctx, pod, {
          mounts: [mount(hostPath, { recursive_read_only: rro })],
        });
        const st = await call(ctx.rt, "ContainerStatus", { container_id: c.id, verbose: true });
        assert.equal(st.status!.mounts.length, 1);
        await execOk(
          ctx,
          c.id,
          rro
            ? ["sh", "-c", `touch /mnt/tmpfs/foo 2>&1 | grep -q "Read-only file system"`]
            : ["touch", "/mnt/tmpfs/file"],
        );
      }));
  const rejects = (ctx: Ctx, m: Partial<cri.MountInit>) =>
    withPod(ctx, privileged, (pod) =>
      withHostPath(async (hostPath) => {
        await assert.rejects(
          createContainer(ctx, pod, {
            command: PAUSE_CMD,
            mounts: [mount(hostPath, { recursive_read_only: true, ...m })],
          }),
          (e: grpc.ServiceError) => e.code === 3 && /recursive_read_only/.test(e.details),
        );
        const left = await call(ctx.rt, "ListContainers", {
          filter: { pod_sandbox_id: pod.id },
        });
        assert.deepEqual(left.containers, []);
      }));
  await spec(t, base, "should support non-recursive readonly mounts", (c) => supports(c, false));
  await spec(t, base, "should support recursive readonly mounts", (c) => supports(c, true));
  for (const propagation of ["PROPAGATION_HOST_TO_CONTAINER", "PROPAGATION_BIDIRECTIONAL"]) {
    await spec(
      t,
      base,
      `should reject a recursive readonly mount with ${propagation}`,
      (c) => rejects(c, { propagation: propagation as cri.MountPropagation }),
    );
  }
  await spec(
    t,
    base,
    "should reject a recursive readonly mount with ReadOnly: false",
    (c) => rejects(c, { readonly: false }),
  );
}

async function containerSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">, scratch: string) {
  const listed = async (ctx: Ctx, id: string) =>
    (await call(ctx.rt, "ListContainers", { filter: { id } })).containers.map((c) => c.id);

  await spec(
    t,
    base,
    "runtime should support creating container",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await createContainer(ctx, pod, { command: PAUSE_CMD });
        assert.deepEqual(await listed(ctx, c.id), [c.id]);
      }),
  );
  await spec(
    t,
    base,
    "runtime should support starting container",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        await runContainer(ctx, pod, {});
      }),
  );
  await spec(
    t,
    base,
    "runtime should support stopping container",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await runContainer(ctx, pod, {});
        const started = Date.now();
        // A SIGTERM that reaches `top` (PID 1) before it installs its handler is ignored, as
        // PID 1 ignores signals it has no handler for: the stop then ends with SIGKILL at the
        // timeout, as under any runtime. So the client waits longer than the timeout (critest's
        // client does too) and the stop must end by the timeout and a little.
        await call(ctx.rt, "StopContainer", { container_id: c.id, timeout: 60 }, {
          deadlineMs: 90_000,
        });
        assert.ok(Date.now() - started < 70_000, "stopped by the timeout");
        await waitState(ctx, c.id, "CONTAINER_EXITED");
      }),
  );
  await spec(
    t,
    base,
    "runtime should support removing container",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await createContainer(ctx, pod, { command: PAUSE_CMD });
        await call(ctx.rt, "RemoveContainer", { container_id: c.id }, { deadlineMs: 60_000 });
        assert.deepEqual(await listed(ctx, c.id), []);
      }),
  );
  await spec(
    t,
    base,
    "runtime should support removing running container",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await runContainer(ctx, pod, {});
        await call(ctx.rt, "RemoveContainer", { container_id: c.id }, { deadlineMs: 60_000 });
        assert.deepEqual(await listed(ctx, c.id), []);
      }),
  );
  await spec(t, base, "runtime should support execSync", (ctx) =>
    withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {});
      const r = await execSync(ctx, c.id, ["echo", "hello"]);
      assert.deepEqual(r, { stdout: "hello\n", stderr: "", code: 0 });
    }));

  const volume = async (ctx: Ctx, symlink: boolean) => {
    const hostPath = await Deno.makeTempDir({ dir: scratch, prefix: "test" });
    await Deno.writeTextFile(join(hostPath, "testVolume.file"), "");
    let path = hostPath;
    if (symlink) {
      path = `${hostPath}-symlink`;
      await Deno.symlink(hostPath, path);
    }
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {
        mounts: [{ host_path: path, container_path: path, selinux_relabel: true }],
      });
      const out = await execOk(ctx, c.id, ["ls", path]);
      assert.ok(out.length > 0, "the volume shows the host's file");
    });
  };
  await spec(
    t,
    base,
    "runtime should support starting container with volume",
    (c) => volume(c, false),
  );
  await spec(
    t,
    base,
    "runtime should support starting container with volume when host path is a symlink",
    (c) => volume(c, true),
  );

  await spec(
    t,
    base,
    "runtime should support starting container with log",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await runContainer(ctx, pod, {
          command: ["echo", "hello World"],
        }, "CONTAINER_EXITED");
        await verifyLog(pod, c.logPath, "hello World\n");
      }),
  );

  await spec(
    t,
    base,
    "runtime should support reopening container log",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await runContainer(ctx, pod, {
          command: ["sh", "-c", "while true; do echo hello World; sleep 0.1; done"],
        });
        await waitFor(
          "log lines",
          async () => (await logLines(pod, c.logPath, "stdout")).length > 0 ? true : undefined,
        );
        const newPath = `${c.logPath}.new`;
        await Deno.rename(join(pod.logDir, c.logPath), join(pod.logDir, newPath));
        await call(ctx.rt, "ReopenContainerLog", { container_id: c.id });
        await Deno.stat(join(pod.logDir, c.logPath));
        await waitFor(
          "lines in the new log",
          async () => (await logLines(pod, c.logPath, "stdout")).length > 0 ? true : undefined,
        );
        const old = (await logLines(pod, newPath, "stdout")).length;
        await new Promise((r) => setTimeout(r, 2000));
        assert.equal((await logLines(pod, newPath, "stdout")).length, old, "old log unchanged");
      }),
  );

  await spec(
    t,
    base,
    "runtime should support container stats",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await runContainer(ctx, pod, { labels: { "critest-stats": "yes" } });
        const s = (await call(ctx.rt, "ContainerStats", { container_id: c.id })).stats!;
        assert.equal(s.attributes!.id, c.id);
        assert.ok(BigInt(s.cpu!.timestamp) > 0n, "cpu timestamp");
        assert.ok(BigInt(s.memory!.timestamp) > 0n, "memory timestamp");
        assert.ok(s.writable_layer, "writable layer");
        const list = async (filter: cri.ContainerStatsFilterInit) =>
          (await call(ctx.rt, "ListContainerStats", { filter })).stats.map((x) => x.attributes!.id);
        assert.deepEqual(await list({ id: c.id }), [c.id]);
        assert.deepEqual(await list({ pod_sandbox_id: pod.id }), [c.id]);
        assert.deepEqual(await list({ label_selector: { "critest-stats": "yes" } }), [c.id]);
      }),
  );

  const modes = [
    ["rprivate", "PROPAGATION_PRIVATE", false, false],
    ["rshared", "PROPAGATION_BIDIRECTIONAL", true, true],
    ["rslave", "PROPAGATION_HOST_TO_CONTAINER", true, false],
  ] as const;
  for (const [mode, propagation, hostToContainer, containerToHost] of modes) {
    const name = `Container Mount Propagation mount with '${mode}' (${
      hostToContainer ? "" : "no "
    }propagation host to container, ${containerToHost ? "" : "no "}container to host)`;
    await spec(t, base, name, async (ctx) => {
      const hostPath = await Deno.makeTempDir({ dir: scratch, prefix: "prop-" });
      const mntSource = join(hostPath, "mnt");
      const propagationMntPoint = join(mntSource, "propagationMnt");
      const propagationSrcDir = join(hostPath, "propagationSrcDir");
      await Deno.mkdir(propagationMntPoint, { recursive: true });
      await Deno.mkdir(propagationSrcDir);
      await Deno.writeTextFile(join(propagationSrcDir, "flagFile"), "");
      await sh("mount", "--rbind", mntSource, mntSource);
      try {
        await sh("mount", mode === "rprivate" ? "--make-rprivate" : "--make-rshared", mntSource);
        const linux = { security_context: { privileged: true } };
        await withPod(ctx, { linux }, async (pod) => {
          const c = await runContainer(ctx, pod, {
            linux,
            mounts: [{ host_path: mntSource, container_path: mntSource, propagation }],
          });
          await sh("mount", "--rbind", propagationSrcDir, propagationMntPoint);
          const seen = await execOk(ctx, c.id, ["ls", "-A", propagationMntPoint]);
          assert.equal(seen.trim() !== "", hostToContainer, `host mount inside: "${seen}"`);
          const containerMntPoint = join(mntSource, "containerMntPoint");
          await execOk(ctx, c.id, ["sh", "-c", `mkdir -p ${containerMntPoint}`]);
          await execOk(ctx, c.id, ["sh", "-c", `mount --bind /etc ${containerMntPoint}`]);
          const onHost = [...Deno.readDirSync(containerMntPoint)];
          assert.equal(onHost.length > 0, containerToHost, "container mount on the host");
          await sh("umount", "-l", containerMntPoint).catch(() => {});
        });
      } finally {
        await sh("umount", "-l", propagationMntPoint).catch(() => {});
        await sh("umount", "-l", mntSource).catch(() => {});
        await Deno.remove(hostPath, { recursive: true }).catch(() => {});
      }
    });
  }

  // not a critest spec: what kubelet does after a container ends (restartPolicy Always)
  await spec(
    t,
    base,
    "(kubelet) a stopped container's next attempt runs in the same pod",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const first = await runContainer(ctx, pod, {
          command: ["sh", "-c", "echo $$ > /dev/shm/a"],
        }, "CONTAINER_EXITED");
        await call(ctx.rt, "RemoveContainer", { container_id: first.id }, { deadlineMs: 60_000 });
        const again = await call(ctx.rt, "CreateContainer", {
          pod_sandbox_id: pod.id,
          sandbox_config: pod.config,
          config: {
            metadata: { name: first.name, attempt: 1 },
            image: { image: ctx.image },
            command: PAUSE_CMD,
            log_path: `${first.name}.1.log`,
          },
        }, { deadlineMs: 60_000 });
        await call(ctx.rt, "StartContainer", { container_id: again.container_id });
        await waitState(ctx, again.container_id, "CONTAINER_RUNNING");
        // the pod's IPC namespace (and its /dev/shm) outlived the first attempt
        assert.ok((await execOk(ctx, again.container_id, ["cat", "/dev/shm/a"])).trim() !== "");
      }),
  );

  await spec(
    t,
    base,
    "Container OOM should terminate with exitCode 137 and reason OOMKilled",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const c = await createContainer(ctx, pod, {
          command: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=20M"],
          linux: { resources: { memory_limit_in_bytes: String(15 * 1024 * 1024) } },
        });
        await call(ctx.rt, "StartContainer", { container_id: c.id }, { deadlineMs: 60_000 });
        const st = await waitState(ctx, c.id, "CONTAINER_EXITED");
        assert.equal(st.exit_code, 137);
        assert.equal(st.reason, "OOMKilled");
      }),
  );
}

/** Streaming (streaming.go): Exec, Attach and PortForward through SPDY, as client-go does. */
async function streamingSpecs(t: Deno.TestContext, base: Omit<Ctx, "shape">) {
  await buildGoStream();
  const exec = async (ctx: Ctx, stdin: boolean, tty: boolean) =>
    await withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {});
      const { url } = await call(ctx.rt, "Exec", {
        container_id: c.id,
        cmd: ["echo", "-n", "hello"],
        stdin,
        stdout: true,
        stderr: !tty,
        tty,
      });
      // as critest's client-go executor: a stderr stream exactly when the request has one
      const args = ["exec", ...(stdin ? ["-stdin"] : []), tty ? "-tty" : "-stderr", url];
      const res = await goStream(args, stdin ? { stdin: "" } : {});
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, "hello");
    });
  await spec(
    t,
    base,
    "runtime should support exec with tty=false and stdin=false",
    (ctx) => exec(ctx, false, false),
  );
  await spec(
    t,
    base,
    "runtime should support exec with tty=true and stdin=true",
    (ctx) => exec(ctx, true, true),
  );

  await spec(t, base, "runtime should support attach", (ctx) =>
    withPod(ctx, {}, async (pod) => {
      const c = await runContainer(ctx, pod, {
        command: ["/bin/sh"],
        stdin: true,
        stdin_once: true,
        tty: false,
      });
      const { url } = await call(ctx.rt, "Attach", {
        container_id: c.id,
        stdin: true,
        stdout: true,
        stderr: true,
        tty: false,
      });
      const res = await goStream(["exec", "-stdin", "-stderr", url], {
        stdin: "echo hello\n",
      });
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.stdout, "hello\n");
    }));

  const portForward = async (ctx: Ctx, hostNet: boolean) => {
    const port = hostNet ? freePort() : 80;
    const linux = hostNet
      ? { security_context: { namespace_options: { network: "NODE" as const } } }
      : {};
    await withPod(ctx, {
      extra: { port_mappings: [{ protocol: "TCP", container_port: port, host_port: 0 }] },
      linux,
    }, async (pod) => {
      await runContainer(ctx, pod, webServer(port));
      const res = await waitFor("the web server through port-forward", async () => {
        const { url } = await call(ctx.rt, "PortForward", { pod_sandbox_id: pod.id, port: [port] });
        const r = await goStream(["portforward", "-port", String(port), url], {
          stdin: "GET / HTTP/1.0\r\n\r\n",
        });
        return r.code === 0 && r.stdout.startsWith("HTTP/1.") ? r : undefined;
      }, WAIT);
      assert.match(res.stdout, /^HTTP\/1\.[01] 200 OK/);
    });
  };
  await spec(t, base, "runtime should support portforward", (ctx) => portForward(ctx, false));
  await spec(
    t,
    base,
    "runtime should support portforward in host network",
    (ctx) => portForward(ctx, true),
  );
}

/** Pushes `image` under each of `refs` (`host/repo:tag`). */
async function pushImage(scratch: string, image: TestImage, refs: string[]): Promise<void> {
  const dir = await Deno.makeTempDir({ dir: scratch, prefix: "layout-" });
  try {
    await writeOciLayout(dir, { top: image.manifest, blobs: imageBlobs(image), tag: "t" });
    for (const dest of refs) await skopeoPush(dir, { tag: "t", dest });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Image Manager (image.go): pull, status by every reference, user fields, list, remove. */
async function imageSpecs(
  t: Deno.TestContext,
  img: grpc.Client,
  host: string,
  scratch: string,
): Promise<void> {
  const layer = await buildLayer(await busyboxEntries());
  const variant = (n: number, user = "") =>
    buildImage([layer], { user, cmd: ["sh", "-c", `echo ${n}`] });
  const status = async (ref: string) =>
    (await call(img, "ImageStatus", { image: { image: ref } })).image ?? undefined;
  /** critest's `removeImage`: by the ID ImageStatus names, when there is one. */
  const remove = async (ref: string) => {
    const st = await status(ref);
    if (st) await call(img, "RemoveImage", { image: { image: st.id } });
  };
  const pull = async (ref: string) =>
    (await call(img, "PullImage", { image: { image: ref } }, { deadlineMs: 60_000 })).image_ref;
  /** critest's `testPullPublicImage`. */
  const pullAndRemove = async (ref: string, check: (s: cri.Image) => void) => {
    await remove(ref);
    await pull(ref);
    const st = await status(ref);
    assert.ok(st, "pulled");
    assert.match(st.id, /^sha256:/);
    assert.ok(BigInt(st.size) > 0n, "size");
    check(st);
    await remove(ref);
    assert.equal(await status(ref), undefined, "removed");
  };

  await t.step("public image with tag should be pulled and removed", async () => {
    const ref = `${host}/it42/img-tag:1.0`;
    await pushImage(scratch, variant(1), [ref]);
    await pullAndRemove(ref, (s) => assert.deepEqual(s.repo_tags, [ref]));
  });
  await t.step("public image without tag should be pulled and removed", async () => {
    const ref = `${host}/it42/img-notag`;
    await pushImage(scratch, variant(2), [`${ref}:latest`]);
    await pullAndRemove(ref, (s) => assert.deepEqual(s.repo_tags, [`${ref}:latest`]));
  });
  await t.step("public image with digest should be pulled and removed", async () => {
    const image = variant(3);
    await pushImage(scratch, image, [`${host}/it42/img-digest:x`]);
    const ref = `${host}/it42/img-digest@${image.manifest.digest}`;
    await pullAndRemove(ref, (s) => {
      assert.deepEqual(s.repo_tags, []);
      assert.deepEqual(s.repo_digests, [ref]);
    });
  });
  await t.step("image status should support all kinds of references", async () => {
    const ref = `${host}/it42/img-all:1`;
    await pushImage(scratch, variant(4), [ref]);
    await remove(ref);
    await pull(ref);
    const st = (await status(ref))!;
    assert.deepEqual(await status(st.id), st);
    for (const r of [...st.repo_tags, ...st.repo_digests]) assert.deepEqual(await status(r), st);
    await remove(ref);
    assert.equal(await status(ref), undefined);
  });
  await t.step("image status get image fields should not have Uid|Username empty", async () => {
    const cases = [
      { user: "1002", uid: "1002", username: "" },
      { user: "www-data", uid: "0", username: "www-data" },
      { user: "1003:users", uid: "1003", username: "" },
      { user: "www-data:100", uid: "0", username: "www-data" },
    ];
    for (const [i, c] of cases.entries()) {
      const ref = `${host}/it42/img-user:${i}`;
      await pushImage(scratch, variant(10 + i, c.user), [ref]);
      await pull(ref);
      const st = (await status(ref))!;
      assert.equal(st.uid?.value ?? "0", c.uid, `${c.user}: uid`);
      assert.equal(st.username, c.username, `${c.user}: username`);
      await remove(ref);
    }
  });
  await t.step("listImage should get exactly 3 image in the result list", async () => {
    const refs = [0, 1, 2].map((i) => `${host}/it42/img-list-${i}:1`);
    for (const [i, ref] of refs.entries()) await pushImage(scratch, variant(20 + i), [ref]);
    const ids = [];
    for (const ref of refs) ids.push(await pull(ref));
    assert.equal(new Set(ids).size, 3);
    const images = (await call(img, "ListImages", { filter: {} })).images;
    for (const [i, id] of ids.entries()) {
      assert.deepEqual(images.find((m) => m.id === id)?.repo_tags, [refs[i]]);
    }
    for (const ref of refs) await remove(ref);
  });
  await t.step("listImage should get exactly 3 repoTags in the result image", async () => {
    const refs = [0, 1, 2].map((i) => `${host}/it42/img-same:${i}`);
    await pushImage(scratch, variant(30), refs);
    const ids = new Set<string>();
    for (const ref of refs) ids.add(await pull(ref));
    assert.equal(ids.size, 1);
    const images = (await call(img, "ListImages", { filter: {} })).images;
    const found = images.find((m) => ids.has(m.id))!;
    assert.deepEqual([...found.repo_tags].sort(), [...refs].sort());
    await remove(refs[0]!);
    assert.equal(await status(refs[2]!), undefined, "removal by ID removes every tag");
  });
  // critest for 1.37: one image under two registry names (the same registry as 127.0.0.1 and as
  // localhost: two names to the node).
  await t.step(
    "removing image from one registry should remove all tags from other registries",
    async () => {
      const [name1, name2] = otherRegistryNames(host, "it42/img-two-registries:1");
      await pushImage(scratch, variant(40), [name1]);
      for (const ref of [name1, name2]) await remove(ref);
      const ids = new Set([await pull(name1), await pull(name2)]);
      assert.equal(ids.size, 1, "one image");
      const images = (await call(img, "ListImages", { filter: {} })).images;
      const found = images.find((m) => m.repo_tags.includes(name1))!;
      assert.deepEqual([...found.repo_tags].sort(), [name1, name2].sort());
      await remove(name1);
      for (const ref of [name1, name2, found.id]) assert.equal(await status(ref), undefined, ref);
    },
  );
}

/** `name` on the registry at `host` (127.0.0.1:port) under its two names: by address, as localhost. */
function otherRegistryNames(host: string, name: string): [string, string] {
  return [`${host}/${name}`, `${host.replace(/^127\.0\.0\.1:/, "localhost:")}/${name}`];
}

/**
 * Image Identifier Consistency (image_id_consistency.go, critest for 1.36 and later): one image
 * pulled under two registry names has one identifier, in PullImage, ImageStatus and the
 * ContainerStatus of a container made from it.
 */
async function imageIdSpecs(
  t: Deno.TestContext,
  base: Omit<Ctx, "shape">,
  img: grpc.Client,
  host: string,
  scratch: string,
) {
  const [name1, name2] = otherRegistryNames(host, "it42/img-id-consistency:1");
  await pushImage(
    scratch,
    buildImage([await buildLayer(await busyboxEntries())], { cmd: ["sh", "-c", "top"] }),
    [name1],
  );
  await spec(
    t,
    base,
    "should return the same image identifier when pulled from different registries",
    (ctx) =>
      withPod(ctx, {}, async (pod) => {
        const pull = async (ref: string) =>
          (await call(img, "PullImage", { image: { image: ref } }, { deadlineMs: 60_000 }))
            .image_ref;
        const ref1 = await pull(name1);
        assert.equal(await pull(name2), ref1);
        for (const name of [name1, name2]) {
          const st = await call(img, "ImageStatus", { image: { image: name } });
          assert.equal(st.image?.id, ref1, name);
        }
        const c = await runContainer(ctx, pod, { image: { image: ref1 }, command: [] });
        const st = (await call(ctx.rt, "ContainerStatus", { container_id: c.id })).status!;
        assert.equal(st.image_id, ref1);
        const listed = await call(ctx.rt, "ListContainers", { filter: { id: c.id } });
        assert.equal(listed.containers[0]?.image_id, ref1);
      }),
  );
}
