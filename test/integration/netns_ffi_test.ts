/**
 * Network namespaces made in-process (libc calls on the netns worker thread) against the real
 * kernel, as root, compared with the `unshare` program: each file holds a new netns with only
 * `lo`, parallel creates give distinct namespaces, no thread of this process is left outside
 * the host netns, and remove() unmounts and deletes. No CNI, no links, no traffic.
 * Everything lives in a temp dir and is unmounted after, even on failure.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createNetnsManager, mountPoints } from "../../src/network/netns.ts";
import { denoRunner } from "../../src/process.ts";
import { ExecNetnsPinner } from "../../src/sys/exec_netns_pinner.ts";
import type { NetnsPinner } from "../../src/sys/netns_pinner.ts";
import { spawnNetnsWorker, WorkerNetnsPinner } from "../../src/sys/worker_netns_pinner.ts";

const decoder = new TextDecoder();

/** The inode of the netns a file or /proc entry refers to (follows the nsfs mount). */
function nsInode(path: string): number {
  const ino = Deno.statSync(path).ino;
  if (ino === null) throw new Error(`No inode for "${path}"`);
  return ino;
}

/** The netns inode of every thread of this process, by thread id. */
function threadNetns(): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of Deno.readDirSync("/proc/self/task")) {
    try {
      out.set(e.name, nsInode(`/proc/self/task/${e.name}/ns/net`));
    } catch {
      // The thread exited between the listing and the stat.
    }
  }
  return out;
}

/** Asserts every thread of this process is in the host netns. */
function assertThreadsHome(host: number): void {
  const away = [...threadNetns()].filter(([, ino]) => ino !== host);
  assert.deepEqual(away, [], `threads outside the host netns (${host}): ${JSON.stringify(away)}`);
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

Deno.test("netns worker runs on its own OS thread with FFI", async () => {
  const port = spawnNetnsWorker();
  try {
    const ready = await new Promise<{ type: string; thread?: string; detail?: string }>(
      (resolve, reject) => {
        port.onMessage((m) => resolve(m));
        port.onExit(reject);
      },
    );
    assert.equal(ready.type, "ready", `the worker could not open libc: ${ready.detail}`);
    const [pid, tid] = ready.thread!.split("/task/");
    assert.equal(pid, String(Deno.pid), "the worker is a thread of this process");
    const mainThread = Deno.readLinkSync("/proc/thread-self");
    assert.notEqual(ready.thread, mainThread, "the worker is not the main thread");
    assert.ok(threadNetns().has(tid!), `thread ${tid} is listed in /proc/self/task`);
  } finally {
    await port.terminate();
  }
});

const pinners: [string, () => NetnsPinner & { close?: () => Promise<void> }][] = [
  ["libc worker", () => new WorkerNetnsPinner()],
  ["unshare program", () => new ExecNetnsPinner(denoRunner)],
];

for (const [name, makePinner] of pinners) {
  Deno.test(`NetnsManager with the ${name} makes real, distinct namespaces`, async (t) => {
    const host = nsInode("/proc/self/ns/net");
    const pinner = makePinner();
    try {
      await withBase(async (base) => {
        const dir = join(base, "netns");
        const mgr = createNetnsManager({ dir, pinner });

        let first = "";
        await t.step("create() pins a new netns holding only lo", async () => {
          first = await mgr.create("first");
          const ino = nsInode(first);
          assert.notEqual(ino, host, "the file holds a namespace other than the host's");
          const lsi = (await run("ls", ["-iL", first])).trim().split(/\s+/)[0];
          assert.equal(lsi, String(ino), "ls -iL agrees");
          const links = (await run("nsenter", [`--net=${first}`, "ip", "-o", "link"]))
            .trim().split("\n").map((l) => l.split(":")[1]?.trim());
          assert.deepEqual(links, ["lo"]);
          assert.ok(mountPoints(await Deno.readTextFile("/proc/self/mountinfo")).includes(first));
          assertThreadsHome(host);
        });

        await t.step("50 creates in parallel give 50 distinct namespaces", async () => {
          const ids = Array.from({ length: 50 }, (_, i) => `par${i}`);
          const paths = await Promise.all(ids.map((id) => mgr.create(id)));
          const inodes = new Set(paths.map(nsInode));
          assert.equal(inodes.size, 50, "50 distinct namespaces");
          assert.ok(!inodes.has(host), "none is the host's");
          assert.ok(!inodes.has(nsInode(first)), "none is an earlier one");
          assertThreadsHome(host);
          await Promise.all(paths.map((p) => mgr.remove(p)));
        });

        await t.step("remove() unmounts and deletes the file", async () => {
          await mgr.remove(first);
          const points = mountPoints(await Deno.readTextFile("/proc/self/mountinfo"));
          assert.ok(!points.some((p) => p.startsWith(dir + "/")), "no netns mount left");
          assert.deepEqual(await mgr.list(), []);
          assertThreadsHome(host);
        });

        await t.step("a create on a missing file fails and leaves nothing behind", async () => {
          await assert.rejects(
            pinner.pin(join(base, "missing", "x")),
            /Cannot pin a new network namespace on ".*\/missing\/x"/,
          );
          assertThreadsHome(host);
          // The worker is still usable afterwards.
          const again = await mgr.create("after-error");
          assert.notEqual(nsInode(again), host);
          await mgr.remove(again);
        });
      });
    } finally {
      await pinner.close?.();
    }
    assertThreadsHome(host);
  });
}
