/**
 * Namespaces made in-process (libc calls on this test's main thread) against the real kernel,
 * as root, compared with the `unshare` program: each netns file holds a new netns with only
 * `lo` (UP with 127.0.0.1 when asked), parallel creates give distinct namespaces, no thread
 * of this process is left outside the host's namespaces, and remove() unmounts and deletes.
 * A pod's IPC/UTS pin sets the hostname and sysctls in the pod's namespaces, not on the node.
 * No CNI, no links, no traffic. Everything lives in a temp dir and is unmounted after, even
 * on failure.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createNetnsManager, mountPoints } from "../../src/network/netns.ts";
import { denoRunner } from "../../src/process.ts";
import { ExecNetnsPinner } from "../../src/sys/exec_netns_pinner.ts";
import { ExecPodNsPinner } from "../../src/sys/exec_pod_ns_pinner.ts";
import type { NetnsPinner } from "../../src/sys/netns_pinner.ts";
import type { PodNsPinner } from "../../src/sys/pod_ns_pinner.ts";
import { ThreadNetnsPinner, ThreadPodNsPinner } from "../../src/sys/thread_ns_pinner.ts";

const decoder = new TextDecoder();
const TYPES = ["net", "ipc", "uts"] as const;

/** The inode of the namespace a file or /proc entry refers to (follows the nsfs mount). */
function nsInode(path: string): number {
  const ino = Deno.statSync(path).ino;
  if (ino === null) throw new Error(`No inode for "${path}"`);
  return ino;
}

/** The namespace inodes of every thread of this process, as `<tid> <type>` → inode. */
function threadNamespaces(): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of Deno.readDirSync("/proc/self/task")) {
    for (const t of TYPES) {
      try {
        out.set(`${e.name} ${t}`, nsInode(`/proc/self/task/${e.name}/ns/${t}`));
      } catch {
        // The thread exited between the listing and the stat.
      }
    }
  }
  return out;
}

const HOST: Record<string, number> & Record<(typeof TYPES)[number], number> = {
  net: nsInode("/proc/self/ns/net"),
  ipc: nsInode("/proc/self/ns/ipc"),
  uts: nsInode("/proc/self/ns/uts"),
};

/** Asserts every thread of this process is in the host's namespaces. */
function assertThreadsHome(): void {
  const away = [...threadNamespaces()].filter(([k, ino]) => ino !== HOST[k.split(" ")[1]!]);
  assert.deepEqual(away, [], `threads outside the host namespaces: ${JSON.stringify(away)}`);
}

async function run(cmd: string, args: string[]): Promise<string> {
  const r = await denoRunner.run(cmd, args, { timeoutMs: 30_000 });
  return decoder.decode(r.stdout);
}

/** Unmounts everything at or below `base` (deepest first), then deletes it. */
async function cleanUp(base: string): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const points = mountPoints(await Deno.readTextFile("/proc/self/mountinfo"))
      .filter((p) => p === base || p.startsWith(base + "/"))
      .sort((a, b) => b.length - a.length);
    if (points.length === 0) break;
    for (const p of points) await denoRunner.run("umount", ["-l", p], { check: false });
  }
  await Deno.remove(base, { recursive: true });
}

async function withBase(fn: (base: string) => Promise<void>): Promise<void> {
  if (Deno.uid() !== 0) throw new Error("netns integration tests need root");
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "ocid-netns-ffi-" }));
  try {
    await fn(base);
  } finally {
    await cleanUp(base);
  }
}

const stranded = (detail: string): never => {
  throw new Error(`stranded: ${detail}`);
};

const pinners: [string, () => NetnsPinner][] = [
  ["libc main-thread pinner", () => new ThreadNetnsPinner({ onStranded: stranded })],
  ["unshare program", () => new ExecNetnsPinner(denoRunner)],
];

for (const [name, makePinner] of pinners) {
  Deno.test(`NetnsManager with the ${name} makes real, distinct namespaces`, async (t) => {
    const pinner = makePinner();
    await withBase(async (base) => {
      const dir = join(base, "netns");
      const mgr = createNetnsManager({ dir, pinner });

      let first = "";
      await t.step("create() pins a new netns holding only lo, down", async () => {
        first = await mgr.create("first");
        const ino = nsInode(first);
        assert.notEqual(ino, HOST.net, "the file holds a namespace other than the host's");
        const lsi = (await run("ls", ["-iL", first])).trim().split(/\s+/)[0];
        assert.equal(lsi, String(ino), "ls -iL agrees");
        const links = (await run("nsenter", [`--net=${first}`, "ip", "-o", "link"]))
          .trim().split("\n");
        assert.deepEqual(links.map((l) => l.split(":")[1]?.trim()), ["lo"]);
        assert.match(links[0]!, /state DOWN/, "lo is down without loopback");
        assert.ok(mountPoints(await Deno.readTextFile("/proc/self/mountinfo")).includes(first));
        assertThreadsHome();
      });

      await t.step("50 creates in parallel give 50 distinct namespaces", async () => {
        const ids = Array.from({ length: 50 }, (_, i) => `par${i}`);
        const paths = await Promise.all(ids.map((id) => mgr.create(id)));
        const inodes = new Set(paths.map(nsInode));
        assert.equal(inodes.size, 50, "50 distinct namespaces");
        assert.ok(!inodes.has(HOST.net), "none is the host's");
        assert.ok(!inodes.has(nsInode(first)), "none is an earlier one");
        assertThreadsHome();
        await Promise.all(paths.map((p) => mgr.remove(p)));
      });

      await t.step("remove() unmounts and deletes the file", async () => {
        await mgr.remove(first);
        const points = mountPoints(await Deno.readTextFile("/proc/self/mountinfo"));
        assert.ok(!points.some((p) => p.startsWith(dir + "/")), "no netns mount left");
        assert.deepEqual(await mgr.list(), []);
        assertThreadsHome();
      });

      await t.step("a create on a missing file fails and leaves nothing behind", async () => {
        await assert.rejects(
          pinner.pin(join(base, "missing", "x")),
          /Cannot pin a new network namespace on ".*\/missing\/x"/,
        );
        assertThreadsHome();
        // The pinner is still usable afterwards.
        const again = await mgr.create("after-error");
        assert.notEqual(nsInode(again), HOST.net);
        await mgr.remove(again);
      });
    });
    assertThreadsHome();
  });
}

Deno.test("The main-thread pinner with loopback gives each netns lo UP with 127.0.0.1", async () => {
  await withBase(async (base) => {
    const pinner = new ThreadNetnsPinner({ onStranded: stranded });
    const mgr = createNetnsManager({ dir: join(base, "netns"), pinner, loopback: true });
    assert.equal(mgr.loopback, true);
    const path = await mgr.create("lo");
    const link = await run("nsenter", [`--net=${path}`, "ip", "-o", "link", "show", "lo"]);
    assert.match(link, /<LOOPBACK,UP,LOWER_UP>/);
    const addrs = await run("nsenter", [`--net=${path}`, "ip", "-o", "addr", "show", "lo"]);
    assert.match(addrs, /inet 127\.0\.0\.1\/8/);
    // A TCP connection to 127.0.0.1 inside (no ping on this machine).
    const script = `const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const c = await Deno.connect(l.addr); c.close(); l.close(); console.log("connected");`;
    const dial = await new Deno.Command("nsenter", {
      args: [`--net=${path}`, Deno.execPath(), "eval", script],
    }).output();
    assert.equal(decoder.decode(dial.stdout).trim(), "connected", decoder.decode(dial.stderr));
    // The node's lo is untouched, the thread is home.
    assertThreadsHome();
    await mgr.remove(path);
  });
});

const podPinners: [string, () => PodNsPinner][] = [
  ["libc main-thread pinner", () => new ThreadPodNsPinner({ onStranded: stranded })],
  ["unshare program", () => new ExecPodNsPinner(denoRunner)],
];

for (const [name, makePinner] of podPinners) {
  Deno.test(`The ${name} sets a pod's hostname and sysctls in its namespaces, not on the node`, async () => {
    await withBase(async (base) => {
      const netns = await createNetnsManager({
        dir: join(base, "netns"),
        pinner: new ExecNetnsPinner(denoRunner),
      }).create("pod");
      const ipc = join(base, "ipc");
      const uts = join(base, "uts");
      for (const f of [ipc, uts]) await Deno.writeTextFile(f, "");
      const read = (p: string) => Deno.readTextFileSync(p).trim();
      const nodeShm = read("/proc/sys/kernel/shm_rmid_forced");
      const nodePort = read("/proc/sys/net/ipv4/ip_unprivileged_port_start");
      const nodeHost = Deno.hostname();
      const shm = nodeShm === "1" ? "0" : "1";
      await makePinner().pin({
        ipc,
        uts,
        hostname: "pinned-pod",
        sysctls: [
          { name: "kernel.shm_rmid_forced", ns: "ipc", path: "kernel/shm_rmid_forced", value: shm },
          {
            name: "net.ipv4.ip_unprivileged_port_start",
            ns: "net",
            path: "net/ipv4/ip_unprivileged_port_start",
            value: "7",
          },
        ],
        netns,
      });
      assert.notEqual(nsInode(ipc), HOST.ipc);
      assert.notEqual(nsInode(uts), HOST.uts);
      assert.equal((await run("nsenter", [`--uts=${uts}`, "hostname"])).trim(), "pinned-pod");
      assert.equal(
        (await run("nsenter", [`--ipc=${ipc}`, "cat", "/proc/sys/kernel/shm_rmid_forced"])).trim(),
        shm,
      );
      assert.equal(
        (await run("nsenter", [
          `--net=${netns}`,
          "cat",
          "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        ]))
          .trim(),
        "7",
      );
      assert.equal(read("/proc/sys/kernel/shm_rmid_forced"), nodeShm, "the node's IPC sysctl");
      assert.equal(
        read("/proc/sys/net/ipv4/ip_unprivileged_port_start"),
        nodePort,
        "the node's net sysctl",
      );
      assert.equal(Deno.hostname(), nodeHost, "the node's hostname");
      assertThreadsHome();
    });
  });
}

Deno.test("The main-thread pod pinner rolls back a bad sysctl and stays home", async () => {
  await withBase(async (base) => {
    const ipc = join(base, "ipc");
    const uts = join(base, "uts");
    for (const f of [ipc, uts]) await Deno.writeTextFile(f, "");
    const nodeHost = Deno.hostname();
    await assert.rejects(
      new ThreadPodNsPinner({ onStranded: stranded }).pin({
        ipc,
        uts,
        hostname: "rolled-back",
        sysctls: [{ name: "kernel.shmmni", ns: "ipc", path: "kernel/shmmni", value: "lots" }],
      }),
      /sysctl write failed: EINVAL: sysctl "kernel.shmmni" = "lots": Invalid argument/,
    );
    const points = mountPoints(await Deno.readTextFile("/proc/self/mountinfo"));
    assert.ok(!points.includes(ipc) && !points.includes(uts), "nothing stays mounted");
    assert.equal(Deno.hostname(), nodeHost);
    assertThreadsHome();
  });
});
